// flow/assignment.cpp: linear assignment (the LP and why it is exact are in the header).
//
// Notation: x[i] = column of row i (-1: free), y[j] = row of column j (-1: free), v[j] = column
// duals (the auction's prices are -v). Row duals are implicit: u_i = min_j (c_ij - v_j).
// Both phases only ever lower v, so each c_ij - v_j only rises; that is what makes the candidate
// lists below exact.
#include "flow/assignment.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <cstdio>
#include <cstdlib>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace fm {

#ifdef FM_ASSIGNMENT_STATS
int64_t g_stat_bids = 0, g_stat_refresh = 0, g_stat_free_jv = 0, g_stat_steps = 0, g_stat_dense = 0, g_stat_phases = 0;
#define STAT(x) (n >= 2048 ? (void)(x) : (void)0)
#else
#define STAT(x) ((void)0)
#endif

#ifndef FM_LIST
#define FM_LIST 16
#endif
#ifndef FM_EPS0
#define FM_EPS0 0.25
#endif
#ifndef FM_THETA
#define FM_THETA 8.0
#endif
#ifndef FM_EPSF
#define FM_EPSF 1e-6
#endif

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int64_t kList = FM_LIST;  // candidate columns kept per row

struct Heap {  // binary min-heap of (key, index)
  std::vector<std::pair<double, int32_t>>& a;
  static bool later(const std::pair<double, int32_t>& p, const std::pair<double, int32_t>& q) { return p.first > q.first; }
  void push(double k, int32_t i) { a.emplace_back(k, i), std::push_heap(a.begin(), a.end(), later); }
  void pop() { std::pop_heap(a.begin(), a.end(), later), a.pop_back(); }
  const std::pair<double, int32_t>& top() const { return a.front(); }
  bool empty() const { return a.empty(); }
};

#ifndef FM_NB
#define FM_NB (2 * kList)
#endif

// val[j] = row[j] - v[j] for j < n, and bmin[b] = the least of block b (columns b bs .. b bs + bs - 1).
void row_values(const float* row, const double* v, double* val, int64_t n, int64_t bs, double* bmin) {
  for (int64_t j0 = 0, b = 0; j0 < n; j0 += bs, ++b) {
    const int64_t e = std::min(n, j0 + bs);
    int64_t j = j0;
    double mb = kInf;
#if defined(__AVX512F__)
    __m512d m = _mm512_set1_pd(kInf);
    for (; j + 8 <= e; j += 8) {
      const __m512d r = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(row + j)), _mm512_loadu_pd(v + j));
      _mm512_storeu_pd(val + j, r);
      m = _mm512_min_pd(m, r);
    }
    mb = _mm512_reduce_min_pd(m);
#endif
    for (; j < e; ++j) val[j] = double(row[j]) - v[j], mb = std::min(mb, val[j]);
    bmin[b] = mb;
  }
}

// The columns j with val[j] <= t, in idx; returns their count.
int64_t collect(const double* val, int64_t n, double t, int32_t* idx) {
  int64_t m = 0, j = 0;
#if defined(__AVX512F__)
  const __m512d vt = _mm512_set1_pd(t);
  __m256i jv = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (; j + 8 <= n; j += 8) {
    const __mmask8 k = _mm512_cmp_pd_mask(_mm512_loadu_pd(val + j), vt, _CMP_LE_OQ);
    if (k) {  // m <= j, so the 8-wide store stays inside idx
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx + m), _mm256_maskz_compress_epi32(k, jv));
      m += __builtin_popcount(k);
    }
    jv = _mm256_add_epi32(jv, _mm256_set1_epi32(8));
  }
#endif
  for (; j < n; ++j)
    if (val[j] <= t) idx[m++] = int32_t(j);
  return m;
}

// Row i's candidate list: its kList columns of least c_ij - v_j now, and bound[i], the next
// value; since values only rise, every column off the list stays >= bound[i] from now on.
#ifdef FM_ASSIGNMENT_STATS
}
int64_t g_cyc_refresh = 0, g_stat_collected = 0;
namespace {
struct Cyc { int64_t& acc; int64_t t0 = __rdtsc(); ~Cyc() { acc += __rdtsc() - t0; } };
#endif
void refresh(const float* c, int64_t n, int64_t i, AssignmentWorkspace& ws) {
  STAT(++g_stat_refresh);
#ifdef FM_ASSIGNMENT_STATS
  Cyc cyc{g_cyc_refresh};
#endif
  const float* row = c + i * n;
  double* val = ws.val.data();
  int32_t* idx = ws.idx.data();
  const int64_t L = std::min(n, kList);
  // The (kList+1)-th least of the block minima bounds the (kList+1)-th least value: keep the
  // values up to it (a few kList of them) and select among those.
  constexpr int64_t nb = FM_NB;
  double bmin[nb];
  const int64_t bs = std::max<int64_t>(8, ((n + nb - 1) / nb + 7) / 8 * 8), used = (n + bs - 1) / bs;
  row_values(row, ws.v.data(), val, n, bs, bmin);
  double t = kInf;
  if (used > kList) std::nth_element(bmin, bmin + kList, bmin + used), t = bmin[kList];
  const int64_t m = collect(val, n, t, idx);
#ifdef FM_ASSIGNMENT_STATS
  STAT(g_stat_collected += m);
#endif
  auto by_value = [val](int32_t a, int32_t b) { return val[a] < val[b]; };
  if (m > L) std::nth_element(idx, idx + L, idx + m, by_value);
  ws.bound[i] = m > L ? val[idx[L]] : kInf;
  for (int64_t k = 0; k < L; ++k) ws.list_col[i * kList + k] = idx[k], ws.list_cost[i * kList + k] = row[idx[k]];
}

// The least and second least c_ij - v_j of row i, exact: from its list, refreshed when the
// list's second least is above the bound (a column off the list might then be second).
void best_two(const float* c, int64_t n, int64_t i, AssignmentWorkspace& ws, double& w1, int32_t& j1, double& w2) {
  const int64_t L = std::min(n, kList);
  for (;;) {
    w1 = w2 = kInf, j1 = -1;
    const int32_t* col = &ws.list_col[i * kList];
    const float* lc = &ws.list_cost[i * kList];
    for (int64_t k = 0; k < L; ++k) {
      const double r = double(lc[k]) - ws.v[col[k]];
      if (r < w2) {
        if (r < w1) w2 = w1, w1 = r, j1 = col[k];
        else w2 = r;
      }
    }
    if (w2 <= ws.bound[i]) return;
    refresh(c, n, i, ws);
  }
}

// Forward auction (Bertsekas 1988) with epsilon scaling: a free row bids for its cheapest
// column, lowering v there by the gap to its second cheapest plus eps, and evicts the holder.
// Ends eps-optimal: every row's column within eps of its cheapest. Cheap, and it leaves prices
// close to optimal duals, so the exact phase after it has little left to do.
void auction_from(const float* c, int64_t n, double eps0, double eps_final, AssignmentWorkspace& ws) {
  int32_t *x = ws.x.data(), *y = ws.y.data(), *q = ws.free_rows.data();
  std::fill_n(x, n, -1), std::fill_n(y, n, -1);
  for (double eps = std::max(eps0, eps_final);; eps = std::max(eps / FM_THETA, eps_final)) {
    STAT(++g_stat_phases);
    // Rows no longer eps-optimal at this eps bid again; the queue is a ring of n slots.
    int64_t head = 0, count = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (x[i] >= 0) {
        double w1, w2;
        int32_t j1;
        best_two(c, n, i, ws, w1, j1, w2);
        if (double(c[i * n + x[i]]) - ws.v[x[i]] <= w1 + eps) continue;
        y[x[i]] = -1, x[i] = -1;
      }
      q[count++] = int32_t(i);
    }
    while (count > 0) {
      STAT(++g_stat_bids);
      const int32_t i = q[head];
      head = head + 1 == n ? 0 : head + 1, --count;
      double w1, w2;
      int32_t j1;
      best_two(c, n, i, ws, w1, j1, w2);
      ws.v[j1] -= (w2 - w1) + eps;
      const int32_t old = y[j1];
      y[j1] = i, x[i] = j1;
      if (old >= 0) {
        x[old] = -1;
        int64_t tail = head + count;
        q[tail >= n ? tail - n : tail] = old, ++count;
      }
    }
#ifdef FM_ASSIGNMENT_STATS
    if (n >= 2048 && getenv("PHASES")) fprintf(stderr, "  phase eps %.2e bids so far %ld refresh so far %ld\n", eps, (long)g_stat_bids, (long)g_stat_refresh);
#endif
    if (eps <= eps_final) break;
  }
}

void auction(const float* c, int64_t n, double range, AssignmentWorkspace& ws) {
  auction_from(c, n, range * FM_EPS0, range * FM_EPSF, ws);
}

// Shortest augmenting path from free row s (JV 1987 section 4.3) on the reduced costs
// c_ij - v_j - u_i >= 0: Dijkstra over columns, a reached matched column continuing along its
// row. Rows are relaxed over their candidate lists only; a row's unrelaxed columns are at
// least bound - h away, and while that exceeds the least tentative distance Dijkstra's choice is
// the same as with all edges. Otherwise the row is refreshed, and the second time relaxed in full.
// At the first free column reached (distance mu) the columns reached before it get
// v_j += d_j - mu, which keeps all c_ij - u_i - v_j >= 0 and makes the flipped path tight.
void augment(const float* c, int64_t n, int32_t s, AssignmentWorkspace& ws) {
  const int64_t L = std::min(n, kList);
  double *v = ws.v.data(), *d = ws.d.data();
  int32_t *x = ws.x.data(), *y = ws.y.data(), *pred = ws.pred.data(), *seen = ws.seen.data();
  const int32_t stamp = ++ws.stamp;  // seen[j] == stamp: d[j] is this search's; == -stamp: j is done
  Heap cols{ws.heap}, rows{ws.row_heap};
  ws.heap.clear(), ws.row_heap.clear(), ws.done.clear();
  auto relax = [&](int32_t i, double h, bool dense) {
    auto one = [&](int32_t j, float cij) {
      if (seen[j] == -stamp) return;
      const double nd = double(cij) - v[j] - h;
      if (seen[j] != stamp || nd < d[j]) seen[j] = stamp, d[j] = nd, pred[j] = i, cols.push(nd, j);
    };
    if (dense) {
      STAT(++g_stat_dense);
      for (int64_t j = 0; j < n; ++j) one(int32_t(j), c[i * n + j]);
    } else {
      for (int64_t k = 0; k < L; ++k) one(ws.list_col[i * kList + k], ws.list_cost[i * kList + k]);
      if (ws.bound[i] < kInf) rows.push(ws.bound[i] - h, i);
    }
  };
  ws.hrow[s] = 0.0;
  relax(s, 0.0, false);
  int32_t j;
  double mu;
  for (;;) {
    while (!cols.empty() && seen[cols.top().second] == -stamp) cols.pop();
    const double dmin = cols.empty() ? kInf : cols.top().first;
    if (!rows.empty() && rows.top().first < dmin) {
      const int32_t i = rows.top().second;
      rows.pop();
      const bool again = ws.refreshed[i] == stamp;
      if (!again) refresh(c, n, i, ws), ws.refreshed[i] = stamp;
      relax(i, ws.hrow[i], again);
      continue;
    }
    STAT(++g_stat_steps);
    j = cols.top().second, mu = dmin;
    cols.pop();
    seen[j] = -stamp;
    ws.done.emplace_back(mu, j);
    const int32_t i = y[j];
    if (i < 0) break;
    const double h = double(c[int64_t(i) * n + j]) - v[j] - mu;  // u_i - mu: (i, j) is tight
    ws.hrow[i] = h;
    relax(i, h, false);
  }
  for (const auto& [dj, jk] : ws.done) v[jk] += dj - mu;
  for (int32_t i = -1; i != s;) {  // flip the path, from the free column back to row s
    i = pred[j];
    y[j] = i;
    const int32_t next = x[i];
    x[i] = j;
    j = next;
  }
}

void resize(AssignmentWorkspace& ws, int64_t n) {
  const size_t m = size_t(n);
  for (auto* a : {&ws.u, &ws.v, &ws.d, &ws.val, &ws.bound, &ws.hrow}) a->assign(m, 0.0);
  for (auto* a : {&ws.x, &ws.y, &ws.pred, &ws.free_rows, &ws.idx}) a->assign(m, 0);
  for (auto* a : {&ws.seen, &ws.refreshed}) a->assign(m, 0);
  ws.stamp = 0;
  ws.list_col.resize(m * kList), ws.list_cost.resize(m * kList);
}

#ifndef FM_COARSE
#define FM_COARSE 128
#endif
#ifndef FM_STRIDE
#define FM_STRIDE 4
#endif
#ifndef FM_AUCTION
#define FM_AUCTION 1
#endif
#ifndef FM_EPS0C
#define FM_EPS0C 1e-3
#endif

void auction_from(const float* c, int64_t n, double eps0, double epsf, AssignmentWorkspace& ws);

// c is finite and its values span `range`.
void solve_checked(const float* c, int64_t n, double range, int32_t* col_of_row, AssignmentWorkspace& ws) {
  if (n == 0) return;
  resize(ws, n);
  if (n == 1) {
    col_of_row[0] = 0, ws.u[0] = c[0], ws.v[0] = 0.0;
    return;
  }
  if (range <= 0) range = 1.0;
  bool warm = false;
  if (FM_COARSE > 0 && n >= FM_COARSE) {
    // Coarse level: every FM_STRIDE-th row and column, solved exactly; its row duals extended to
    // all columns by the c-transform v_j = min_a (c_{r_a j} - u_a).
    const int64_t s = FM_STRIDE, m = n / s;
    if (ws.coarse.empty()) ws.coarse.resize(1);
    AssignmentWorkspace& cw = ws.coarse[0];
    cw.cost.resize(size_t(m * m));
    for (int64_t a = 0; a < m; ++a)
      for (int64_t b = 0; b < m; ++b) cw.cost[a * m + b] = c[(s * a) * n + s * b];
    std::vector<int32_t> sub(static_cast<size_t>(m));
    solve_checked(cw.cost.data(), m, range, sub.data(), cw);
    std::fill_n(ws.v.begin(), n, kInf);
    for (int64_t a = 0; a < m; ++a) {
      const float* row = c + (s * a) * n;
      const double ua = cw.u[a];
      for (int64_t j = 0; j < n; ++j) ws.v[j] = std::min(ws.v[j], double(row[j]) - ua);
    }
    warm = true;
  }
  for (int64_t i = 0; i < n; ++i) refresh(c, n, i, ws);
#ifdef FM_ASSIGNMENT_STATS
  double dual0 = 0;
  for (int64_t i = 0; i < n; ++i) { double w1, w2; int32_t j1; best_two(c, n, i, ws, w1, j1, w2); dual0 += w1 + ws.v[i]; }
#endif
  if (!warm) auction(c, n, range, ws);
  else if (FM_AUCTION) auction_from(c, n, range * FM_EPS0C, range * FM_EPSF, ws);
  else {
    std::fill_n(ws.x.begin(), n, -1), std::fill_n(ws.y.begin(), n, -1);
    for (int64_t i = 0; i < n; ++i) {
      double w1, w2;
      int32_t j1;
      best_two(c, n, i, ws, w1, j1, w2);
      if (ws.y[j1] < 0) ws.y[j1] = int32_t(i), ws.x[i] = j1;
    }
  }
  // Exact phase: keep the rows whose column is a least c_ij - v_j (tight), free the others.
  int64_t nfree = 0;
  for (int64_t i = 0; i < n; ++i) {
    double w1, w2;
    int32_t j1;
    best_two(c, n, i, ws, w1, j1, w2);
    const int32_t j = ws.x[i];
    if (j < 0) ws.free_rows[nfree++] = int32_t(i);
    else if (double(c[i * n + j]) - ws.v[j] > w1) ws.y[j] = -1, ws.x[i] = -1, ws.free_rows[nfree++] = int32_t(i);
  }
  STAT(g_stat_free_jv += nfree);
  for (int64_t k = 0; k < nfree; ++k) augment(c, n, ws.free_rows[k], ws);
  double primal = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int32_t j = ws.x[i];
    col_of_row[i] = j;
    ws.u[i] = double(c[i * n + j]) - ws.v[j];
    primal += c[i * n + j];
  }
#ifdef FM_ASSIGNMENT_STATS
  if (n >= 512) fprintf(stderr, "n=%ld initial dual %.4f primal %.4f gap/n %.5f\n", long(n), dual0, primal, (primal - dual0) / n);
#endif
  (void)primal;
}

}  // namespace

void solve_assignment(const float* cost, int64_t n, int32_t* col_of_row, AssignmentWorkspace& ws) {
  if (n < 0) throw std::invalid_argument("solve_assignment: n = " + std::to_string(n) + " < 0");
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  for (int64_t k = 0; k < n * n; ++k) {
    if (!std::isfinite(cost[k]))
      throw std::invalid_argument("solve_assignment: cost element " + std::to_string(k) + " is not finite");
    lo = std::min(lo, cost[k]), hi = std::max(hi, cost[k]);
  }
  solve_checked(cost, n, double(hi) - double(lo), col_of_row, ws);
}

std::vector<int32_t> solve_assignment(const float* cost, int64_t n) {
  AssignmentWorkspace ws;
  std::vector<int32_t> out(size_t(std::max<int64_t>(n, 0)));
  solve_assignment(cost, n, out.data(), ws);
  return out;
}

// Cost rows are x1's points and columns x0's, so col_of_row is perm. With x0 transposed to
// [d, n], each row of the matrix is d passes of a contiguous, vectorisable update.
void ot_pairing(const float* x0, const float* x1, int64_t n, int64_t d, int32_t* perm, AssignmentWorkspace& ws) {
  if (n < 0) throw std::invalid_argument("ot_pairing: n = " + std::to_string(n) + " < 0");
  if (n == 0) return;
  if (d < 1) throw std::invalid_argument("ot_pairing: d = " + std::to_string(d) + " < 1");
  for (int64_t k = 0; k < n * d; ++k)
    if (!std::isfinite(x0[k]) || !std::isfinite(x1[k]))
      throw std::invalid_argument("ot_pairing: coordinate " + std::to_string(k) + " of x0 or x1 is not finite");
  std::vector<float>& x0t = ws.points;
  x0t.resize(size_t(n * d));
  for (int64_t j = 0; j < n; ++j)
    for (int64_t k = 0; k < d; ++k) x0t[size_t(k * n + j)] = x0[j * d + k];
  ws.cost.resize(size_t(n * n));
  float hi = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    float* __restrict row = ws.cost.data() + i * n;
    std::fill_n(row, n, 0.0f);
    for (int64_t k = 0; k < d; ++k) {
      const float a = x1[i * d + k];
      const float* __restrict b = x0t.data() + k * n;
      for (int64_t j = 0; j < n; ++j) {
        const float t = a - b[j];
        row[j] += t * t;
      }
    }
    for (int64_t j = 0; j < n; ++j) hi = std::max(hi, row[j]);
  }
  if (!std::isfinite(hi)) throw std::invalid_argument("ot_pairing: a squared distance overflows float");
  solve_checked(ws.cost.data(), n, double(hi), perm, ws);
}

std::vector<int32_t> ot_pairing(const float* x0, const float* x1, int64_t n, int64_t d) {
  AssignmentWorkspace ws;
  std::vector<int32_t> out(size_t(std::max<int64_t>(n, 0)));
  ot_pairing(x0, x1, n, d, out.data(), ws);
  return out;
}

}  // namespace fm
