// flow/assignment.cpp: linear assignment (the LP, the algorithm and why it is exact: the header).
//
// Notation: x[i] = column of row i (-1: free), y[j] = row of column j (-1: free), v[j] = column
// duals (the auction's prices are -v). Row duals are implicit, u_i = min_j (c_ij - v_j). Every
// phase only ever lowers v, so each value c_ij - v_j only rises: that is what keeps the candidate
// lists exact.
#include "flow/assignment.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string>
#ifdef FM_ASSIGNMENT_STATS
#include <x86intrin.h>
#endif

#if defined(__AVX512F__) && defined(__AVX512VL__)
#define FM_ASSIGNMENT_AVX512 1
// GCC 12's AVX-512 intrinsics trip a false -W(maybe-)uninitialized (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

namespace fm {

#ifdef FM_ASSIGNMENT_STATS
int64_t g_stat_bids = 0, g_stat_refresh = 0, g_stat_free_jv = 0, g_stat_steps = 0, g_stat_dense = 0, g_stat_phases = 0;
uint64_t g_phase_t0 = 0;
int64_t g_stat_pushes = 0;
int64_t g_stat_min_n = 2048, g_cyc_refresh = 0, g_m_sum = 0, g_m_big = 0, g_m_over = 0;
#define STAT(x) (n >= g_stat_min_n ? (void)(x) : (void)0)
#else
#define STAT(x) ((void)0)
#endif
#ifndef FM_EPS0C
#define FM_EPS0C 1e-3
#endif
#ifndef FM_EPSF
#define FM_EPSF 1e-6
#endif
#ifndef FM_SLACK
#define FM_SLACK 4.0
#endif
#ifndef FM_THETA
#define FM_THETA 8.0
#endif
#ifndef FM_COARSE_EXACT
#define FM_COARSE_EXACT false
#endif
#ifndef FM_EPSF_COARSE
#define FM_EPSF_COARSE 1e-5
#endif
#ifndef FM_UNDERBID
#define FM_UNDERBID 1
#endif
#ifndef FM_STRIDE
#define FM_STRIDE 4
#endif
#ifndef FM_COARSE
#define FM_COARSE 128
#endif
#ifndef FM_LISTMIN
#define FM_LISTMIN 16
#endif
#ifndef FM_LIST
#define FM_LIST 32
#endif

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int64_t kList = FM_LIST;   // room for candidate columns per row
constexpr int64_t kListMin = FM_LISTMIN;     // a refresh keeps at least this many (n permitting)
constexpr int64_t kCoarse = FM_COARSE;    // from this size on, a problem starts from its coarse level's duals
constexpr int64_t kStride = FM_STRIDE;      // the coarse level: every kStride-th row and column
constexpr int64_t kPointDim = 4;    // ot_pairing computes costs on the fly up to this dimension

// ---- Costs: a dense matrix, or squared distances computed when needed ----

struct MatrixCost {
  const float* c;
  int64_t n;
  const float* row(int64_t i, float*) const { return c + i * n; }
  float at(int64_t i, int64_t j) const { return c[i * n + j]; }
#if FM_ASSIGNMENT_AVX512
  __m256 at8(int64_t i, int64_t j) const { return _mm256_loadu_ps(c + i * n + j); }  // columns j .. j + 7
#endif
};

inline float madd(float a, float b, float c) {
#if defined(__FMA__)
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

// ||x1_i - x0_j||^2 for small d (x0t: x0 transposed to [d, n]); D > 0 fixes d at compile time.
// row(), at() and at8() add the same terms in the same order with the same fused multiply-adds,
// so they agree to the bit.
template <int D>
struct PointCost {
  const float *x1, *x0t;
  int64_t n, d_;
  int64_t d() const { return D > 0 ? D : d_; }
  float at(int64_t i, int64_t j) const {
    float s = 0.0f;
    for (int64_t k = 0; k < d(); ++k) {
      const float t = x1[i * d() + k] - x0t[k * n + j];
      s = madd(t, t, s);
    }
    return s;
  }
#if FM_ASSIGNMENT_AVX512
  __m256 at8(int64_t i, int64_t j) const {
    __m256 s = _mm256_setzero_ps();
    for (int64_t k = 0; k < d(); ++k) {
      const __m256 t = _mm256_sub_ps(_mm256_set1_ps(x1[i * d() + k]), _mm256_loadu_ps(x0t + k * n + j));
      s = _mm256_fmadd_ps(t, t, s);
    }
    return s;
  }
#endif
  const float* row(int64_t i, float* out) const {
    int64_t j = 0;
#if FM_ASSIGNMENT_AVX512
    for (; j + 8 <= n; j += 8) _mm256_storeu_ps(out + j, at8(i, j));
#endif
    for (; j < n; ++j) out[j] = at(i, j);
    return out;
  }
};

// ---- Candidate lists ----

// bmin[b] = the least c_ij - v_j over block b (columns b bs .. b bs + bs - 1).
template <class Cost>
void block_minima(const Cost& c, int64_t i, const double* v, int64_t n, int64_t bs, double* bmin) {
  for (int64_t j0 = 0, b = 0; j0 < n; j0 += bs, ++b) {
    const int64_t e = std::min(n, j0 + bs);
    int64_t j = j0;
    double mb = kInf;
#if FM_ASSIGNMENT_AVX512
    __m512d m = _mm512_set1_pd(kInf);
    for (; j + 8 <= e; j += 8) m = _mm512_min_pd(m, _mm512_sub_pd(_mm512_cvtps_pd(c.at8(i, j)), _mm512_loadu_pd(v + j)));
    mb = _mm512_reduce_min_pd(m);
#endif
    for (; j < e; ++j) mb = std::min(mb, double(c.at(i, j)) - v[j]);
    bmin[b] = mb;
  }
}

// Appends the j in [j0, j1) with c_ij - v_j <= t to (cv, ci) from position m; returns the new
// count. Few pass: the vector path marks them in a bitmap per 64 columns, then visits its set bits.
template <class Cost>
int64_t collect(const Cost& c, int64_t i, const double* v, int64_t j0, int64_t j1, double t, double* cv, int32_t* ci,
                int64_t m) {
  int64_t j = j0;
#if FM_ASSIGNMENT_AVX512
  const __m512d vt = _mm512_set1_pd(t);
  for (; j + 64 <= j1; j += 64) {
    uint64_t bits = 0;
    for (int q = 0; q < 8; ++q) {
      const __m512d r = _mm512_sub_pd(_mm512_cvtps_pd(c.at8(i, j + 8 * q)), _mm512_loadu_pd(v + j + 8 * q));
      bits |= uint64_t(_mm512_cmp_pd_mask(r, vt, _CMP_LE_OQ)) << (8 * q);
    }
    for (; bits; bits &= bits - 1) {
      const int64_t jk = j + __builtin_ctzll(bits);
      cv[m] = double(c.at(i, jk)) - v[jk], ci[m++] = int32_t(jk);
    }
  }
#endif
  for (; j < j1; ++j)
    if (const double r = double(c.at(i, j)) - v[j]; r <= t) cv[m] = r, ci[m++] = int32_t(j);
  return m;
}

// The (r+1)-th least of a[0, m), r < m; `scratch` holds m doubles. Up to 32 values: the least
// a[b] with more than r values <= it, counted with vector compares; else nth_element on a copy.
double kth_least(const double* a, int64_t m, int64_t r, double* scratch) {
#if FM_ASSIGNMENT_AVX512
  if (m <= 32) {
    const __m512d inf = _mm512_set1_pd(kInf);
    __m512d z[4];
    for (int64_t q = 0; q < 4; ++q) {
      const int64_t left = std::clamp<int64_t>(m - 8 * q, 0, 8);
      z[q] = _mm512_mask_loadu_pd(inf, __mmask8((1u << left) - 1), a + 8 * q);
    }
    __m512i count[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
    const __m512i one = _mm512_set1_epi64(1);
    for (int64_t b = 0; b < m; ++b) {  // count[q] lane l: how many a[b] <= z[q][l]
      const __m512d x = _mm512_set1_pd(a[b]);
      for (int64_t q = 0; q < 4; ++q)
        count[q] = _mm512_mask_add_epi64(count[q], _mm512_cmp_pd_mask(x, z[q], _CMP_LE_OQ), count[q], one);
    }
    __m512d t = inf;
    const __m512i need = _mm512_set1_epi64(r);
    for (int64_t q = 0; q < 4; ++q)
      t = _mm512_mask_min_pd(t, _mm512_cmpgt_epi64_mask(count[q], need), t, z[q]);
    return _mm512_reduce_min_pd(t);
  }
#endif
  std::copy_n(a, m, scratch);
  std::nth_element(scratch, scratch + r, scratch + m);
  return scratch[r];
}

// Row i's candidate list: the columns of least c_ij - v_j now (at least kListMin, at most
// kList), and bound[i], at most every other value. Values only rise, so every column off the
// list stays >= bound[i] from now on.
template <class Cost>
void refresh(const Cost& c, int64_t n, int64_t i, AssignmentWorkspace& ws) {
  STAT(++g_stat_refresh);
#ifdef FM_ASSIGNMENT_STATS
  struct Cyc { int64_t n; uint64_t t0 = __rdtsc(); ~Cyc() { if (n >= g_stat_min_n) g_cyc_refresh += __rdtsc() - t0; } } cyc{n};
#endif
  // The kListMin-th least of nb block minima, t, has at least kListMin values <= it: collect
  // those (from the blocks whose least is <= t), typically a little over kListMin.
  constexpr int64_t nb = std::max<int64_t>(32, 2 * kListMin);
  double bmin[nb];
  const int64_t bs = std::max<int64_t>(8, ((n + nb - 1) / nb + 7) / 8 * 8), used = (n + bs - 1) / bs;
  block_minima(c, i, ws.v.data(), n, bs, bmin);
  const double t = used > kListMin ? kth_least(bmin, used, kListMin - 1, ws.scratch.data()) : kInf;
  double* cv = ws.scratch.data() + n;
  int32_t* ci = ws.idx.data();
  int64_t m = 0;
  for (int64_t b = 0; b < used; ++b)
    if (bmin[b] <= t) m = collect(c, i, ws.v.data(), b * bs, std::min(n, b * bs + bs), t, cv, ci, m);
#ifdef FM_ASSIGNMENT_STATS
  if (n >= g_stat_min_n) { g_m_sum += m; g_m_big += m > 64; g_m_over += m > kList; }
#endif
  // Every value not collected is > t. Too many collected: keep the kList least.
  const double bound = m > kList ? kth_least(cv, m, kList, ws.scratch.data()) : t;
  int32_t* col = &ws.list_col[i * kList];
  float* lc = &ws.list_cost[i * kList];
  int64_t k = 0;
  for (int64_t e = 0; e < m && k < kList; ++e)
    if (cv[e] < bound || m <= kList) col[k] = ci[e], lc[k++] = c.at(i, ci[e]);
  for (int64_t e = 0; e < m && k < kList; ++e)
    if (cv[e] == bound && m > kList) col[k] = ci[e], lc[k++] = c.at(i, ci[e]);
  ws.list_len[i] = int32_t(k);
  ws.bound[i] = bound;
}

// The least and second least c_ij - v_j of row i from its list, refreshed when the second least
// is above the bound + slack. With slack 0 the result is exact; with slack s the second least
// may be too high by up to s.
template <class Cost>
void best_two(const Cost& c, int64_t n, int64_t i, AssignmentWorkspace& ws, double& w1, int32_t& j1, double& w2,
              double slack = 0.0) {
  for (;;) {
    const int64_t len = ws.list_len[i];
    const int32_t* col = &ws.list_col[i * kList];
    const float* lc = &ws.list_cost[i * kList];
#if FM_ASSIGNMENT_AVX512
    // Up to kList values in vectors of 8 (+inf past the end); the least; then the least of the rest.
    constexpr int64_t nq = kList / 8;
    const __m512d inf = _mm512_set1_pd(kInf);
    __m512d r[nq], least = inf;
    for (int64_t q = 0; q < nq; ++q) {
      const int64_t left = std::clamp<int64_t>(len - 8 * q, 0, 8);
      const __mmask8 in = __mmask8((1u << left) - 1);
      const __m256i cols = _mm256_maskz_loadu_epi32(in, col + 8 * q);
      const __m512d vj = _mm512_mask_i32gather_pd(inf, in, cols, ws.v.data(), 8);
      r[q] = _mm512_mask_sub_pd(inf, in, _mm512_cvtps_pd(_mm256_maskz_loadu_ps(in, lc + 8 * q)), vj);
      least = _mm512_min_pd(least, r[q]);
    }
    w1 = _mm512_reduce_min_pd(least);
    const __m512d vw1 = _mm512_set1_pd(w1);
    for (int64_t q = 0; q < nq; ++q)
      if (const unsigned at = _mm512_cmp_pd_mask(r[q], vw1, _CMP_EQ_OQ)) {
        j1 = col[8 * q + __builtin_ctz(at)];
        r[q] = _mm512_mask_mov_pd(r[q], __mmask8(at & (0u - at)), inf);
        break;
      }
    least = inf;
    for (int64_t q = 0; q < nq; ++q) least = _mm512_min_pd(least, r[q]);
    w2 = _mm512_reduce_min_pd(least);
#else
    w1 = w2 = kInf, j1 = -1;
    for (int64_t k = 0; k < len; ++k) {
      const double r = double(lc[k]) - ws.v[col[k]];
      if (r < w2) {
        if (r < w1) w2 = w1, w1 = r, j1 = col[k];
        else w2 = r;
      }
    }
#endif
#if FM_UNDERBID
    if (w1 <= ws.bound[i] + slack) { w2 = std::min(w2, ws.bound[i]); return; }
#else
    if (w2 <= ws.bound[i] + slack) return;
#endif
    refresh(c, n, i, ws);
  }
}

// ---- Auction ----

// Forward auction (Bertsekas 1988) with eps-scaling: a free row bids for its cheapest column,
// lowering v there by the gap to its second cheapest plus eps, and evicts the holder. With list
// slack s it ends (eps + s)-optimal: each row's column within eps + s of its cheapest. Its only
// job is to bring v near optimal duals cheaply; exactness comes after it.
template <class Cost>
void auction(const Cost& c, int64_t n, double eps0, double eps_final, AssignmentWorkspace& ws) {
  int32_t *x = ws.x.data(), *y = ws.y.data(), *q = ws.free_rows.data();
  std::fill_n(x, n, -1), std::fill_n(y, n, -1);
#ifdef FM_ASSIGNMENT_STATS
  g_phase_t0 = __rdtsc();
#endif
  for (double eps = std::max(eps0, eps_final);; eps = std::max(eps / FM_THETA, eps_final)) {
    STAT(++g_stat_phases);
    const double slack = FM_SLACK * eps;
    // Rows no longer eps-optimal bid again; the queue is a ring of n slots.
    int64_t head = 0, count = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (x[i] >= 0) {
        double w1, w2;
        int32_t j1;
        best_two(c, n, i, ws, w1, j1, w2, slack);
        if (double(c.at(i, x[i])) - ws.v[x[i]] <= w1 + eps) continue;
        y[x[i]] = -1, x[i] = -1;
      }
      q[count++] = int32_t(i);
    }
    for (; count > 0; --count) {
      STAT(++g_stat_bids);
      const int32_t i = q[head];
      head = head + 1 == n ? 0 : head + 1;
      double w1, w2;
      int32_t j1;
      best_two(c, n, i, ws, w1, j1, w2, slack);
      ws.v[j1] -= (w2 - w1) + eps;
      const int32_t old = y[j1];
      y[j1] = i, x[i] = j1;
      if (old >= 0) x[old] = -1, q[(head + count - 1) % n] = old, ++count;
    }
#ifdef FM_ASSIGNMENT_STATS
    if (n >= g_stat_min_n && getenv("PHASES")) fprintf(stderr, "  phase eps %.2e: bids so far %ld refreshes so far %ld, Mcyc %.2f\n", eps, (long)g_stat_bids, (long)g_stat_refresh, (__rdtsc() - g_phase_t0) / 1e6);
    g_phase_t0 = __rdtsc();
#endif
    if (eps <= eps_final) break;
  }
}

// ---- Shortest augmenting paths ----

// From free row s (JV 1987 section 4.3) on the reduced costs c_ij - u_i - v_j >= 0: Dijkstra over
// columns, a reached matched column continuing along its row. Rows are relaxed over their lists;
// a row's other columns are at least bound - h away, and while that is above the least tentative
// distance Dijkstra's choice is the one it would make with every edge. Otherwise the row is
// refreshed, and the second time relaxed in full. At the first free column reached (distance mu)
// each column reached before it gets v_j += d_j - mu: all c_ij - u_i - v_j stay >= 0, and the
// flipped path is tight.
template <class Cost>
void augment(const Cost& c, int64_t n, int32_t s, AssignmentWorkspace& ws) {
  double *v = ws.v.data(), *d = ws.d.data();
  int32_t *x = ws.x.data(), *y = ws.y.data(), *pred = ws.pred.data(), *seen = ws.seen.data();
  const int32_t stamp = ++ws.stamp;  // seen[j] == stamp: d[j] is this search's; == -stamp: j is done
  auto later = [](const std::pair<double, int32_t>& p, const std::pair<double, int32_t>& q) { return p.first > q.first; };
  auto& cols = ws.heap;  // (tentative distance, column), and (bound - h, row) in rows
  auto& rows = ws.row_heap;
  cols.clear(), rows.clear(), ws.done.clear();
  auto push = [&](std::vector<std::pair<double, int32_t>>& h, double key, int32_t k) {
    h.emplace_back(key, k), std::push_heap(h.begin(), h.end(), later);
  };
  auto pop = [&](std::vector<std::pair<double, int32_t>>& h) { std::pop_heap(h.begin(), h.end(), later), h.pop_back(); };
  auto relax_one = [&](int32_t i, double h, int32_t j, float cij) {
    if (seen[j] == -stamp) return;
    const double nd = double(cij) - v[j] - h;
    if (seen[j] != stamp || nd < d[j]) { seen[j] = stamp, d[j] = nd, pred[j] = i, push(cols, nd, j); STAT(++g_stat_pushes); }
  };
  auto relax = [&](int32_t i, double h, bool dense) {
    if (dense) {
      STAT(++g_stat_dense);
      const float* row = c.row(i, ws.rowbuf.data());
      for (int64_t j = 0; j < n; ++j) relax_one(i, h, int32_t(j), row[j]);
      return;
    }
    for (int64_t k = 0, len = ws.list_len[i]; k < len; ++k) relax_one(i, h, ws.list_col[i * kList + k], ws.list_cost[i * kList + k]);
    if (ws.bound[i] < kInf) push(rows, ws.bound[i] - h, i);
  };
  ws.hrow[s] = 0.0;
  relax(s, 0.0, false);
  int32_t j;
  double mu;
  for (;;) {
    while (!cols.empty() && seen[cols.front().second] == -stamp) pop(cols);
    const double dmin = cols.empty() ? kInf : cols.front().first;
    if (!rows.empty() && rows.front().first < dmin) {
      const int32_t i = rows.front().second;
      pop(rows);
      const bool again = ws.refreshed[i] == stamp;
      if (!again) refresh(c, n, i, ws), ws.refreshed[i] = stamp;
      relax(i, ws.hrow[i], again);
      continue;
    }
    STAT(++g_stat_steps);
    j = cols.front().second, mu = dmin;
    pop(cols);
    seen[j] = -stamp;
    ws.done.emplace_back(mu, j);
    const int32_t i = y[j];
    if (i < 0) break;
    const double h = double(c.at(i, j)) - v[j] - mu;  // u_i - mu: (i, j) is tight
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

// ---- Levels ----

void resize(AssignmentWorkspace& ws, int64_t n) {
  const size_t m = size_t(n);
  for (auto* a : {&ws.u, &ws.v, &ws.d, &ws.bound, &ws.hrow}) a->assign(m, 0.0);
  for (auto* a : {&ws.x, &ws.y, &ws.pred, &ws.free_rows, &ws.seen, &ws.refreshed, &ws.list_len}) a->assign(m, 0);
  ws.idx.resize(m + 8), ws.scratch.resize(2 * m + 8);
  ws.rowbuf.resize(m);
  ws.stamp = 0;
  ws.list_col.resize(m * kList), ws.list_cost.resize(m * kList);
}

// The coarse problem: rows and columns 0, kStride, 2 kStride, ... of the fine one.
MatrixCost coarse_of(const MatrixCost& c, int64_t m, AssignmentWorkspace& cw) {
  cw.cost.resize(size_t(m * m));
  for (int64_t a = 0; a < m; ++a)
    for (int64_t b = 0; b < m; ++b) cw.cost[size_t(a * m + b)] = c.c[(kStride * a) * c.n + kStride * b];
  return {cw.cost.data(), m};
}

template <int D>
PointCost<D> coarse_of(const PointCost<D>& c, int64_t m, AssignmentWorkspace& cw) {
  const int64_t d = c.d();
  cw.points.resize(size_t(2 * m * d));
  float *x1 = cw.points.data(), *x0t = x1 + m * d;
  for (int64_t a = 0; a < m; ++a)
    for (int64_t k = 0; k < d; ++k) x1[a * d + k] = c.x1[(kStride * a) * d + k], x0t[k * m + a] = c.x0t[k * c.n + kStride * a];
  return {x1, x0t, m, d};
}

// Solves the level: on return ws.x is an optimal assignment and (ws.u, ws.v) its certificate.
// `range` bounds the spread of the costs and sets the auction's eps.
template <class Cost>
void solve_level(const Cost& c, int64_t n, double range, AssignmentWorkspace& ws, bool exact = true) {
  resize(ws, n);
  if (n == 1) {
    ws.x[0] = ws.y[0] = 0, ws.v[0] = 0.0, ws.u[0] = c.at(0, 0);
    return;
  }
  double eps0 = range / 4;
#ifdef FM_ASSIGNMENT_STATS
  uint64_t T0 = __rdtsc(), T1 = T0, T2, T3, T4, T5;
#endif
  if (n >= kCoarse) {
    // Warm start: solve the coarse level, then extend its duals to every column by the
    // c-transform v_j = min_a (c_{kStride a, j} - u_a), feasible for the coarse rows.
    const int64_t m = n / kStride;
    if (ws.coarse.empty()) ws.coarse.resize(1);
    AssignmentWorkspace& cw = ws.coarse[0];
    solve_level(coarse_of(c, m, cw), m, range, cw, FM_COARSE_EXACT);
#ifdef FM_ASSIGNMENT_STATS
    T1 = __rdtsc();
#endif
    std::fill_n(ws.v.begin(), n, kInf);
    for (int64_t a = 0; a < m; ++a) {
      const float* row = c.row(kStride * a, ws.rowbuf.data());
      for (int64_t j = 0; j < n; ++j) ws.v[j] = std::min(ws.v[j], double(row[j]) - cw.u[a]);
    }
    eps0 = range * FM_EPS0C;
  }
#ifdef FM_ASSIGNMENT_STATS
  std::vector<double> vinit(ws.v.begin(), ws.v.begin() + n);
#endif
#ifdef FM_ASSIGNMENT_STATS
  T2 = __rdtsc();
#endif
  for (int64_t i = 0; i < n; ++i) refresh(c, n, i, ws);
#ifdef FM_ASSIGNMENT_STATS
  T3 = __rdtsc();
#endif
  auction(c, n, eps0, range * (exact ? FM_EPSF : FM_EPSF_COARSE), ws);
  if (!exact) {  // a coarse level: its row duals, for the c-transform, are all the finer level needs
    for (int64_t i = 0; i < n; ++i) {
      double w1, w2;
      int32_t j1;
      best_two(c, n, i, ws, w1, j1, w2);
      ws.u[i] = w1;
    }
    return;
  }
#ifdef FM_ASSIGNMENT_STATS
  T4 = __rdtsc();
#endif
  // Exact phase: keep the rows whose column is a least c_ij - v_j (tight), free the others, and
  // give each free row its shortest augmenting path.
  int64_t nfree = 0;
  for (int64_t i = 0; i < n; ++i) {
    double w1, w2;
    int32_t j1;
    best_two(c, n, i, ws, w1, j1, w2);
    const int32_t j = ws.x[i];
    if (j >= 0 && double(c.at(i, j)) - ws.v[j] > w1) ws.y[j] = -1, ws.x[i] = -1;
    if (ws.x[i] < 0) ws.free_rows[nfree++] = int32_t(i);
  }
  STAT(g_stat_free_jv += nfree);
#ifdef FM_ASSIGNMENT_STATS
  T5 = __rdtsc();
#endif
  for (int64_t k = 0; k < nfree; ++k) augment(c, n, ws.free_rows[k], ws);
#ifdef FM_ASSIGNMENT_STATS
  if (getenv("LEVELS")) fprintf(stderr, "n=%5ld coarse %.2f ctransform %.2f refresh %.2f auction %.2f exactcheck %.2f jv %.2f (Mcyc)\n", long(n), (T1-T0)/1e6, (T2-T1)/1e6, (T3-T2)/1e6, (T4-T3)/1e6, (T5-T4)/1e6, (__rdtsc()-T5)/1e6);
#endif
  for (int64_t i = 0; i < n; ++i) ws.u[i] = double(c.at(i, ws.x[i])) - ws.v[ws.x[i]];
#ifdef FM_ASSIGNMENT_STATS
  if (n >= 512 && getenv("DUALS")) {
    double mean = 0, sq = 0, mx = 0;
    for (int64_t j = 0; j < n; ++j) mean += ws.v[j] - vinit[j];
    mean /= n;
    for (int64_t j = 0; j < n; ++j) { double e = ws.v[j] - vinit[j] - mean; sq += e * e; mx = std::max(mx, std::fabs(e)); }
    fprintf(stderr, "n=%ld dual error vs warm start: shift %.4f rms %.4f max %.4f\n", long(n), mean, std::sqrt(sq / n), mx);
  }
#endif
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
  if (n == 0) return;
  solve_level(MatrixCost{cost, n}, n, hi > lo ? double(hi) - double(lo) : 1.0, ws);
  std::copy_n(ws.x.begin(), n, col_of_row);
}

std::vector<int32_t> solve_assignment(const float* cost, int64_t n) {
  AssignmentWorkspace ws;
  std::vector<int32_t> out(static_cast<size_t>(std::max<int64_t>(n, 0)));
  solve_assignment(cost, n, out.data(), ws);
  return out;
}

namespace {

// Checks the points; returns sum_k (max_k - min_k)^2 over both sets, a bound on every squared distance.
double bounding_range(const float* x0, const float* x1, int64_t n, int64_t d, std::vector<double>& box) {
  box.assign(size_t(2 * d), kInf);
  double *lo = box.data(), *hi = lo + d;
  for (int64_t k = 0; k < d; ++k) hi[k] = -kInf;
  for (const float* p : {x0, x1})
    for (int64_t i = 0; i < n; ++i) {
      bool finite = true;
      for (int64_t k = 0; k < d; ++k) {
        const double a = p[i * d + k];
        finite &= std::fabs(a) <= FLT_MAX;
        lo[k] = std::min(lo[k], a), hi[k] = std::max(hi[k], a);
      }
      if (!finite)
        throw std::invalid_argument(std::string("ot_pairing: a coordinate of ") + (p == x0 ? "x0" : "x1") + " row " +
                                    std::to_string(i) + " is not finite");
    }
  double range = 0.0;
  for (int64_t k = 0; k < d; ++k) range += (hi[k] - lo[k]) * (hi[k] - lo[k]);
  return range;
}

// ||a - b||^2 over d floats, in 16 partial sums (so that it vectorises).
float squared_distance(const float* a, const float* b, int64_t d) {
  int64_t k = 0;
  float total = 0.0f;
#if FM_ASSIGNMENT_AVX512
  __m512 s = _mm512_setzero_ps();
  for (; k + 16 <= d; k += 16) {
    const __m512 t = _mm512_sub_ps(_mm512_loadu_ps(a + k), _mm512_loadu_ps(b + k));
    s = _mm512_fmadd_ps(t, t, s);
  }
  total = _mm512_reduce_add_ps(s);
#else
  float s[16] = {};
  for (; k + 16 <= d; k += 16)
    for (int u = 0; u < 16; ++u) {
      const float t = a[k + u] - b[k + u];
      s[u] = madd(t, t, s[u]);
    }
  for (int u = 0; u < 16; ++u) total += s[u];
#endif
  for (; k < d; ++k) {
    const float t = a[k] - b[k];
    total = madd(t, t, total);
  }
  return total;
}

}  // namespace

// Cost rows are x1's points and columns x0's, so col_of_row is perm.
void ot_pairing(const float* x0, const float* x1, int64_t n, int64_t d, int32_t* perm, AssignmentWorkspace& ws) {
  if (n < 0) throw std::invalid_argument("ot_pairing: n = " + std::to_string(n) + " < 0");
  if (n == 0) return;
  if (d < 1) throw std::invalid_argument("ot_pairing: d = " + std::to_string(d) + " < 1");
  double range = bounding_range(x0, x1, n, d, ws.scratch);
  if (range > FLT_MAX) throw std::invalid_argument("ot_pairing: squared distances overflow float");
  if (range == 0.0) range = 1.0;
  if (d <= kPointDim) {  // costs on the fly, from x0 transposed
    ws.points.resize(size_t(n * d));
    float* x0t = ws.points.data();
    for (int64_t j = 0; j < n; ++j)
      for (int64_t k = 0; k < d; ++k) x0t[k * n + j] = x0[j * d + k];
    if (d == 2) solve_level(PointCost<2>{x1, x0t, n, d}, n, range, ws);  // the 2-D toys, unrolled
    else solve_level(PointCost<0>{x1, x0t, n, d}, n, range, ws);
  } else {  // each cost once, into a matrix
    ws.cost.resize(size_t(n * n));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) ws.cost[size_t(i * n + j)] = squared_distance(x1 + i * d, x0 + j * d, d);
    solve_level(MatrixCost{ws.cost.data(), n}, n, range, ws);
  }
  std::copy_n(ws.x.begin(), n, perm);
}

std::vector<int32_t> ot_pairing(const float* x0, const float* x1, int64_t n, int64_t d) {
  AssignmentWorkspace ws;
  std::vector<int32_t> out(static_cast<size_t>(std::max<int64_t>(n, 0)));
  ot_pairing(x0, x1, n, d, out.data(), ws);
  return out;
}

}  // namespace fm
