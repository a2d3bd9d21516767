// flow/auction.h: an eps-optimal assignment for large OT batches, by Bertsekas' auction algorithm
// with eps-scaling (D. P. Bertsekas, "The auction algorithm: a distributed relaxation method for
// the assignment problem", Annals of Operations Research 14, 105-123, 1988; and his "Linear Network
// Optimization", 1991, chapter 4), for the squared-Euclidean cost of two point sets.
//
// Why not the exact solver (flow/assignment.h) here: Jonker-Volgenant takes 0.85 s for 2,048
// Gaussian-to-checkerboard points, some 25 training steps; the auction takes milliseconds and
// proves a bound on how far it is from the optimum.
//
// The auction. Persons i (the data rows) bid for objects j (the noise rows). Person i values object
// j at a_ij - p_j, with benefit a_ij = -c_ij + |x1_i|^2 = 2 x1_i.x0_j - |x0_j|^2 (the row term
// |x1_i|^2 does not change which permutation is best) and price p_j. An unassigned person finds its
// best object j1 (value w1) and the second best value w2, raises p_j1 by w1 - w2 + eps and takes j1
// from its owner, who becomes unassigned. Every assigned pair satisfies eps-complementary slackness
//     a_ij - p_j >= max_k (a_ik - p_k) - eps,
// because the bid left j1 worth w2 - eps to i, and the prices of other objects only rise. When
// every person holds an object, summing eps-CS over the persons against any permutation sigma gives
//     sum_i c_i,assigned(i) <= sum_i c_i,sigma(i) + n eps:
// the returned permutation is within n eps of the optimal cost (Bertsekas 1988, proposition 1).
// Rounding: values are computed in float, so each comparison may be off by a few ulps of the
// largest value; eps is kept >= 2^-20 of the largest squared distance (some 16 ulps), so that
// rounding is a small part of eps and every bid moves a price by a visible step.
//
// eps-scaling. With a small eps from the start, prices climb in tiny steps (a bidding war over
// near-equal objects). So the auction runs phases at a large eps first, then eps / 6 each, keeping
// the prices; every phase starts with all persons unassigned. A phase that ends at eps with cost C
// proves the optimum >= C - n eps. Near the end a tighter proof comes from the prices alone (weak
// duality: optimum >= sum_i |x1_i|^2 - [sum_i max_j (a_ij - p_j) + sum_j p_j], one scan per
// person), about twice as close. The phases stop as soon as the cost is at most 1 + rel times the
// best lower bound, so the result costs at most (1 + rel) times the optimum.
//
// Coarse to fine. From zero prices the first phase must be at a large eps (a tenth of the mean
// cost) and is a bidding war. So for n >= 512 the auction first solves the first quarter of the
// rows (recursively, the same way), prices every object from that equilibrium (its c-transform),
// and starts at a fiftieth of the mean cost.
//
// Measured on Gaussian noise against 2,048 points (one core, AMD EPYC, 2026-12-07, rel = 1e-2),
// in millions of columns scanned for checkerboard / 8gaussians / moons: 61 / 86 / 112 from zero
// prices with the phases' own bound; 61 / 71 / 98 with the dual bound; 54 / 60 / 81 coarse to fine
// as well, which took 7.1-7.9 / 8.5-9.5 / 12.5-14 ms against 9.4-10.5 / 12.8-14.3 / 17.3-19.7 ms
// at first (30 batches each, alternating). The exact solver takes 0.85-2 s on such a batch.
//
// Tried and left out, measured on those batches: Jacobi rounds (all unassigned persons bid at
// once, on the CPU threads) made three times the bids, since neighbours bid for the same objects;
// keeping each person's K best objects between scans saved a third of the scans but not their
// time; cutting the objects into k-d blocks of 32 and scanning only the blocks whose upper bound
// (a box around the block, its offsets fitted by a plane plus the largest residual) beats the
// second best found still scanned 15 of 64 blocks a bid, 3 times slower than scanning all: near
// the equilibrium prices a person's values are nearly flat over a wide region (that is what makes
// the prices an equilibrium), so many blocks come within the second best. With the dual bound,
// swapping the roles (noise rows bidding for data rows) made 1.6 times the bids on checkerboard
// and 8 % fewer on moons; with the coarse start, aiming the last phase's eps from the dual gap of
// the phase before saved nothing beyond noise.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "tensor/aligned_vector.h"

namespace fm {

// Scratch of an auction, reused across calls so that a training step allocates nothing once it has
// run at its batch size.
struct AuctionWorkspace {
  AlignedVector<float> noise_t;        // x0 transposed, [d][n] (rows 16-float aligned): a scan reads coordinate rows
  std::vector<float> twice;            // 2 x1, [n][d]: the bidders' coefficients
  AlignedVector<float> offset;         // -(|x0_j|^2 + p_j), p_j the price: value = 2 x1_i.x0_j + offset_j
  std::vector<int32_t> owner, object;  // the person holding each object, the object of each person (-1: none)
  std::vector<int32_t> queue;          // the unassigned persons
  std::vector<float> top;              // each person's best value, for the dual bound
  // The coarse problem (the first quarter of the rows), and what it passes up: its pairing, its
  // persons as columns (x1 transposed) and minus their profits, the scan that prices the objects.
  std::unique_ptr<AuctionWorkspace> coarse;
  std::vector<int32_t> perm;
  AlignedVector<float> persons_t, minus_profit;
};

// What an auction did: its final eps (the returned permutation costs at most n * eps more than the
// optimum, up to float rounding), its bids (each one scan of the n objects) and eps phases.
struct AuctionStats {
  double eps = 0.0;           // the last phase's eps
  double cost = 0.0;          // the returned pairing's cost, sum_i |x0[perm[i]] - x1[i]|^2
  double lower = 0.0;         // a proven lower bound on the optimum: the largest of the phases' cost - n eps and the dual bounds, or 0
  int64_t bids = 0, phases = 0, duals = 0;  // the coarse problems' included; duals: dual bounds computed
};

// Squared-Euclidean pairing of x0 [n, d] and x1 [n, d] (row-major float), as ot_pairing
// (flow/assignment.h) but eps-optimal: perm[i] is the row of x0 paired with row i of x1, and
//     sum_i ||x0[perm[i]] - x1[i]||^2 = stats.cost <= optimum + n * stats.eps,
//     stats.lower <= optimum,   stats.cost <= (1 + relative_eps) * stats.lower,
// up to float rounding (a few ulps of the largest value per bid), the last unless eps reached its
// floor (an optimum near 0, as for identical sets). Any row order is correct; rows in random order
// (exchangeable, as a training batch's) make the coarse problem a fair sample and save the most.
// Throws std::invalid_argument as ot_pairing does, and on a relative_eps that is not positive.
AuctionStats ot_pairing_auction(const float* x0, const float* x1, int64_t n, int64_t d, double relative_eps,
                                int32_t* perm, AuctionWorkspace& ws);

}  // namespace fm
