// flow/assignment.h: exact linear assignment (minimum-cost perfect matching), for coupling a
// minibatch of noise with a minibatch of data by optimal transport (OT-CFM: Tong et al. 2023,
// Pooladian et al. 2023) before the flow-matching loss is taken on the pairs.
//
// The problem and its LP. For an n x n cost matrix c, find a permutation sigma minimising
// sum_i c[i][sigma(i)]. As an LP over doubly stochastic x >= 0 (whose vertices are permutations,
// Birkhoff-von Neumann, so the LP optimum is a permutation):
//     primal:  min  sum_ij c_ij x_ij   s.t.  sum_j x_ij = 1 (each row),  sum_i x_ij = 1 (each column)
//     dual:    max  sum_i u_i + sum_j v_j   s.t.  u_i + v_j <= c_ij  for all i, j.
// Complementary slackness: a permutation sigma and a feasible (u, v) are both optimal iff every
// matched pair is tight, u_i + v_sigma(i) = c_i,sigma(i); then the two objectives are equal. Such a
// (u, v) is the certificate of optimality that the solver builds and `AssignmentWorkspace` keeps.
//
// The algorithm is Jonker & Volgenant's (R. Jonker, A. Volgenant, "A shortest augmenting path
// algorithm for dense and sparse linear assignment problems", Computing 38, 325-340, 1987):
//   1. column reduction: v_j = min_i c_ij, each column offered to its cheapest row;
//   2. reduction transfer and two passes of augmenting row reduction (cheap auction-like moves
//      that assign most rows and raise the duals while keeping u + v <= c);
//   3. for each row still free, Dijkstra's shortest path on the reduced costs c_ij - u_i - v_j
//      (all >= 0, so Dijkstra is valid) from the row to the nearest unassigned column, then flip
//      the path (one more row matched) and update v so that the new matching is tight and (u, v)
//      stays feasible.
// Every step keeps dual feasibility and complementary slackness on the matched pairs, so when
// all n rows are matched the result is optimal: exact, not approximate (the duals are kept in
// double; the only error is the rounding of costs to float and of the double arithmetic).
// Complexity: O(n^3) in the worst case (n searches of O(n^2)); on random geometric problems far
// less, the first phases leave a fraction of the rows to search for, most searches are short.
// Memory: O(n) beside the cost matrix (ot_pairing builds an n x n float matrix, 16 MB at n = 2048).
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace fm {

// Scratch space of a solve, reusable across calls so a training step allocates nothing once it
// has run at its batch size. After a solve, u and v hold the dual certificate:
// u[i] + v[j] <= c[i][j] for all i, j, with equality on every matched pair (up to rounding).
struct AssignmentWorkspace {
  std::vector<double> u, v;
  std::vector<int32_t> x, y;  // column of each row, row of each column
  // Candidate lists: row i's kList cheapest columns (by c_ij - v_j) at its last refresh, their
  // costs, and a lower bound on c_ij - v_j for every column off the list.
  std::vector<int32_t> list_col, list_len;
  std::vector<float> list_cost;
  std::vector<double> bound;
  // Scratch of the refreshes, the auction and the shortest-path searches.
  std::vector<double> scratch, d, hrow;
  std::vector<int32_t> idx, free_rows, pred, seen, refreshed;
  std::vector<float> rowbuf;
  int32_t stamp = 0;
  std::vector<std::pair<double, int32_t>> heap, row_heap, done;
  std::vector<float> cost, points;          // ot_pairing's matrix or transposed points
  std::vector<AssignmentWorkspace> coarse;  // the coarse level's
};

// Exact minimum-cost perfect matching of an n x n dense cost matrix (row-major: cost[i * n + j]
// is the cost of giving row i column j). Returns col_of_row, a permutation of 0..n-1. Throws
// std::invalid_argument on n < 0 or a non-finite cost; n = 0 gives an empty result.
std::vector<int32_t> solve_assignment(const float* cost, int64_t n);
void solve_assignment(const float* cost, int64_t n, int32_t* col_of_row, AssignmentWorkspace& ws);

// Squared-Euclidean OT pairing of two point sets x0 [n, d] and x1 [n, d] (row-major float):
// perm[i] is the row of x0 paired with row i of x1, minimising sum_i ||x0[perm[i]] - x1[i]||^2.
// Throws std::invalid_argument on n < 0, d < 1 (when n > 0) or non-finite coordinates.
std::vector<int32_t> ot_pairing(const float* x0, const float* x1, int64_t n, int64_t d);
void ot_pairing(const float* x0, const float* x1, int64_t n, int64_t d, int32_t* perm, AssignmentWorkspace& ws);

}  // namespace fm
