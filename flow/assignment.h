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
//   1. column reduction: v_j = min_i c_ij, each column offered to its cheapest row, and reduction
//      transfer (a row matched once is made tight with its second cheapest column too);
//   2. for each row still free, Dijkstra's shortest path on the reduced costs c_ij - u_i - v_j
//      (all >= 0, so Dijkstra is valid) from the row to the nearest unassigned column, then flip
//      the path (one more row matched) and update v so that the new matching is tight and (u, v)
//      stays feasible.
// Every step keeps dual feasibility (u_i = min_j c_ij - v_j) and, on the matched pairs,
// complementary slackness, so when all n rows are matched the result is optimal: exact, not
// approximate (the duals are kept in double; the only error is rounding).
// Cost: O(n^3) in the worst case (n searches of O(n^2)). Measured on one core for Gaussian noise
// against checkerboard points (d = 2): 0.5 ms at n = 128, 3 ms at 256, 120 ms at 1024, 0.85 s at
// 2048: the later searches on such geometric problems reach most columns, which is why the
// coupling (flow/coupling.h) solves a large batch in blocks.
#pragma once
#include <cstdint>
#include <vector>

namespace fm {

// Scratch space of a solve, reusable across calls so a training step allocates nothing once it
// has run at its batch size. After a solve, u and v hold the dual certificate:
// u[i] + v[j] <= c[i][j] for all i, j, with equality on every matched pair (up to rounding).
struct AssignmentWorkspace {
  std::vector<double> u, v, dist;
  std::vector<int32_t> x, y;                 // column of each row, row of each column (-1: free)
  std::vector<int32_t> pred, cols;           // Dijkstra's predecessors and column order
  std::vector<float> cost;                   // ot_pairing's cost matrix
};

// Exact minimum-cost perfect matching of an n x n dense cost matrix (row-major: cost[i * n + j]
// is the cost of giving row i column j). Returns col_of_row, a permutation of 0..n-1. Throws
// std::invalid_argument on n < 0 or a non-finite cost; n = 0 gives an empty result.
std::vector<int32_t> solve_assignment(const float* cost, int64_t n);
void solve_assignment(const float* cost, int64_t n, int32_t* col_of_row, AssignmentWorkspace& ws);

// Squared-Euclidean OT pairing of two point sets x0 [n, d] and x1 [n, d] (row-major float):
// perm[i] is the row of x0 paired with row i of x1, minimising sum_i ||x0[perm[i]] - x1[i]||^2.
// Throws std::invalid_argument on n < 0, d < 1 (when n > 0), non-finite coordinates or squared
// distances beyond float's range.
std::vector<int32_t> ot_pairing(const float* x0, const float* x1, int64_t n, int64_t d);
void ot_pairing(const float* x0, const float* x1, int64_t n, int64_t d, int32_t* perm, AssignmentWorkspace& ws);

// The argument check both OT solvers share (here and flow/auction.h): throws std::invalid_argument
// "<what> element <k> is not finite" at the first of the count values that is NaN or infinite.
void check_finite(const float* values, int64_t count, const char* what);

}  // namespace fm
