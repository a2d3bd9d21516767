// flow/assignment.cpp: linear assignment by Jonker-Volgenant (the LP, the algorithm and why it is
// exact: the header).
//
// Notation: x[i] = column of row i (-1: free), y[j] = row of column j (-1: free), v[j] = column
// duals. Row duals stay implicit during the solve, u_i = min_j (c_ij - v_j); the invariant of every
// phase is that a matched row's column attains that minimum (the pair is tight).
#include "flow/assignment.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace fm {
namespace {

// Phase 1 (JV section 4.1), column reduction: v_j = min_i c_ij, and column j goes to its cheapest
// row when that row has no column yet. Then reduction transfer for each row matched once: lower
// v of its column by the gap to the row's second cheapest, so that the row is tight with both
// (u_i = the second least reduced cost) and phase 2 starts from larger row duals.
void column_reduction(const float* c, int64_t n, AssignmentWorkspace& ws) {
  double* v = ws.v.data();
  int32_t *x = ws.x.data(), *y = ws.y.data();
  std::vector<int32_t>& argmin = ws.pred;  // cheapest row of each column (scratch)
  for (int64_t j = 0; j < n; ++j) v[j] = c[j], argmin[size_t(j)] = 0;
  for (int64_t i = 1; i < n; ++i) {  // row by row, for a cache-friendly scan of a row-major c
    const float* row = c + i * n;
    for (int64_t j = 0; j < n; ++j)
      if (row[j] < v[j]) v[j] = row[j], argmin[size_t(j)] = int32_t(i);
  }
  std::vector<int32_t>& times = ws.cols;  // how many columns chose each row (scratch)
  std::fill_n(times.begin(), n, 0);
  for (int64_t j = 0; j < n; ++j) {
    const int32_t i = argmin[size_t(j)];
    if (times[size_t(i)]++ == 0) x[i] = int32_t(j), y[j] = i;
  }
  for (int64_t i = 0; i < n; ++i) {
    if (times[size_t(i)] != 1 || n == 1) continue;
    const int32_t j1 = x[i];
    double second = INFINITY;
    for (int64_t j = 0; j < n; ++j)
      if (j != j1) second = std::min(second, double(c[i * n + j]) - v[j]);
    v[j1] -= second;  // c_ij1 - v_j1 was 0; now it equals the second least
  }
}

// Phase 2 (JV section 4.3): from free row s, Dijkstra over columns on the reduced costs, where
// reaching a matched column j continues along its row y[j] at no cost (the pair is tight). dist[j]
// = the shortest path length to column j; cols holds the columns partitioned as
//   [0, low): scanned (final, dist <= mu),  [low, up): at the current least distance mu, to scan,
//   [up, n): the rest.
// At the first free column reached (distance mu), every scanned column gets v_j += dist_j - mu:
// the reduced costs stay >= 0 and the path becomes tight, so flipping it keeps the invariant.
// (JV's augmenting row reduction, their section 4.2, is left out: on Gaussian-to-checkerboard
// batches its bids on near-ties cost as much time as the searches they save.)
void augment(const float* c, int64_t n, int32_t s, AssignmentWorkspace& ws) {
  double *v = ws.v.data(), *dist = ws.dist.data();
  int32_t *x = ws.x.data(), *y = ws.y.data(), *pred = ws.pred.data(), *cols = ws.cols.data();
  for (int64_t j = 0; j < n; ++j) dist[j] = double(c[s * n + j]) - v[j], pred[j] = s, cols[j] = int32_t(j);
  int64_t low = 0, up = 0;
  double mu = 0.0;
  int32_t end = -1;
  while (end < 0) {
    if (low == up) {  // no column left at mu: gather those at the next least distance
      mu = dist[cols[up++]];
      for (int64_t k = up; k < n; ++k) {
        const int32_t j = cols[k];
        if (dist[j] <= mu) {
          if (dist[j] < mu) up = low, mu = dist[j];
          cols[k] = cols[up], cols[up++] = j;
        }
      }
      for (int64_t k = low; k < up && end < 0; ++k)
        if (y[cols[k]] < 0) end = cols[k];
      if (end >= 0) break;
    }
    const int32_t j1 = cols[low++], i = y[j1];
    const float* row = c + int64_t(i) * n;
    const double base = double(row[j1]) - v[j1] - mu;  // u_i - mu: row i is tight at j1
    for (int64_t k = up; k < n; ++k) {
      const int32_t j = cols[k];
      const double h = double(row[j]) - v[j] - base;
      if (h < dist[j]) {
        dist[j] = h, pred[j] = i;
        if (h <= mu) {  // == mu in exact arithmetic (reduced costs are >= 0)
          if (y[j] < 0) { end = j; break; }
          cols[k] = cols[up], cols[up++] = j;
        }
      }
    }
  }
  for (int64_t k = 0; k < low; ++k) v[cols[k]] += dist[cols[k]] - mu;
  for (int32_t j = end;;) {  // flip the alternating path back to s
    const int32_t i = pred[j], next = x[i];
    y[j] = i, x[i] = j;
    if (i == s) break;
    j = next;
  }
}

// The solve itself, on costs already checked.
void solve_checked(const float* cost, int64_t n, int32_t* col_of_row, AssignmentWorkspace& ws) {
  if (n == 0) return;
  const size_t m = size_t(n);
  ws.u.resize(m), ws.v.resize(m), ws.dist.resize(m);
  ws.x.assign(m, -1), ws.y.assign(m, -1);
  ws.pred.resize(m), ws.cols.resize(m);
  column_reduction(cost, n, ws);
  for (int64_t i = 0; i < n; ++i)
    if (ws.x[size_t(i)] < 0) augment(cost, n, int32_t(i), ws);
  for (int64_t i = 0; i < n; ++i) {
    const int32_t j = ws.x[size_t(i)];
    ws.u[size_t(i)] = double(cost[i * n + j]) - ws.v[size_t(j)];
    col_of_row[i] = j;
  }
}

}  // namespace

void check_finite(const float* values, int64_t count, const char* what) {
  for (int64_t k = 0; k < count; ++k)
    if (!std::isfinite(values[k]))
      throw std::invalid_argument(std::string(what) + " element " + std::to_string(k) + " is not finite");
}

void solve_assignment(const float* cost, int64_t n, int32_t* col_of_row, AssignmentWorkspace& ws) {
  if (n < 0) throw std::invalid_argument("solve_assignment: n = " + std::to_string(n) + " < 0");
  check_finite(cost, n * n, "solve_assignment: cost");
  solve_checked(cost, n, col_of_row, ws);
}

std::vector<int32_t> solve_assignment(const float* cost, int64_t n) {
  AssignmentWorkspace ws;
  std::vector<int32_t> out(static_cast<size_t>(std::max<int64_t>(n, 0)));
  solve_assignment(cost, n, out.data(), ws);
  return out;
}

// Cost rows are x1's points and columns x0's, so col_of_row is perm.
void ot_pairing(const float* x0, const float* x1, int64_t n, int64_t d, int32_t* perm, AssignmentWorkspace& ws) {
  if (n < 0) throw std::invalid_argument("ot_pairing: n = " + std::to_string(n) + " < 0");
  if (n == 0) return;
  if (d < 1) throw std::invalid_argument("ot_pairing: d = " + std::to_string(d) + " < 1");
  check_finite(x0, n * d, "ot_pairing: x0");
  check_finite(x1, n * d, "ot_pairing: x1");
  ws.cost.resize(size_t(n * n));
  for (int64_t i = 0; i < n; ++i) {
    const float* a = x1 + i * d;
    float* row = ws.cost.data() + i * n;
    for (int64_t j = 0; j < n; ++j) {
      const float* b = x0 + j * d;
      float s = 0.0f;
      for (int64_t k = 0; k < d; ++k) s += (a[k] - b[k]) * (a[k] - b[k]);
      row[j] = s;
    }
  }
  for (float s : ws.cost)
    if (!std::isfinite(s)) throw std::invalid_argument("ot_pairing: squared distances overflow float");
  solve_checked(ws.cost.data(), n, perm, ws);  // each cost checked just above
}

std::vector<int32_t> ot_pairing(const float* x0, const float* x1, int64_t n, int64_t d) {
  AssignmentWorkspace ws;
  std::vector<int32_t> out(static_cast<size_t>(std::max<int64_t>(n, 0)));
  ot_pairing(x0, x1, n, d, out.data(), ws);
  return out;
}

}  // namespace fm
