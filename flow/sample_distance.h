// flow/sample_distance.h: distances between two point sets, for telling how close a model's samples
// are to the data (a benchmark table's sample-quality columns). Both take X [n, d] and Y [m, d],
// row-major float, and compute in double.
//
// Energy distance (Székely & Rizzo 2013), for X, X' ~ P and Y, Y' ~ Q independent:
//     E(P, Q) = 2 E||X - Y|| - E||X - X'|| - E||Y - Y'||,
// which is >= 0 and = 0 iff P = Q (for P, Q with finite first moments). It is the squared MMD of
// the distance kernel, needs no bandwidth, and every term is a plain mean of distances. Estimate:
//     E_hat = 2/(n m) sum_ij ||x_i - y_j||
//           - 1/(n (n-1)) sum_{i != i'} ||x_i - x_i'|| - 1/(m (m-1)) sum_{j != j'} ||y_j - y_j'||,
// the within-set terms being U-statistics (pairs of distinct points only), so that E[E_hat] = E
// exactly: a table of values at different sample sizes then compares distributions, not sample
// sizes (the V-statistic, dividing by n^2 with the zero i = i' terms, is biased up by O(1/n)).
// The price: E_hat may be slightly negative, and for a set compared with itself it is not 0 but
// -2/n times the set's mean pairwise distance. A set of one point has no pairs: its within term
// is taken as 0, exact when that distribution is a point mass.
//
// Sliced Wasserstein-2 (Rabin et al. 2011; Bonneel et al. 2015):
//     SW2^2(P, Q) = E_theta W2^2(theta.P, theta.Q),   theta uniform on the unit sphere S^{d-1},
// a metric on distributions that only needs 1-D transports, each exact: for 1-D distributions with
// quantile functions F^-1, G^-1,
//     W2^2 = int_0^1 (F^-1(u) - G^-1(u))^2 du.
// For empirical distributions these are step functions (F^-1 = the i-th smallest x on
// ((i-1)/n, i/n]), so sorting both projections gives the integral exactly; for n = m it is
// mean_i (x_(i) - y_(i))^2, and for n != m the steps are merged at the breakpoints i/n and j/m.
// The expectation over theta is a Monte Carlo mean over `projections` directions (normalised
// Gaussian vectors) from the caller's seed, with an own generator (splitmix64 + Box-Muller), so a
// seed gives the same value on every platform. Returned: SW2, the square root.
// Scale: with Y = X shifted by mu along one axis, W2^2(theta.X, theta.Y) = mu^2 theta_1^2 and
// SW2 = |mu| / sqrt(d); with d = 1 it is the 1-D W2 itself (every direction is +-1 there, so it is
// computed once, exactly, whatever `projections` and `seed`).
//
// Both throw std::invalid_argument on n < 1, m < 1, d < 1, a null pointer, a non-finite
// coordinate, or (sliced_wasserstein) projections < 1.
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace fm {

// The U-statistic estimate of the energy distance above. O(n m d + n^2 d + m^2 d), one thread.
double energy_distance(const float* x, int64_t n, const float* y, int64_t m, int64_t d);

// SW2 over `projections` random unit directions drawn from `seed`: the same arguments give the
// same value. O(projections ((n + m) d + n log n + m log m)).
double sliced_wasserstein(const float* x, int64_t n, const float* y, int64_t m, int64_t d, int projections = 256,
                          uint64_t seed = 0);

// The same for two host tensors of samples [n, ...] and [m, ...] (each row flattened).
double energy_distance(const Tensor& x, const Tensor& y);
double sliced_wasserstein(const Tensor& x, const Tensor& y, int projections = 256, uint64_t seed = 0);

}  // namespace fm
