// flow/auction.cpp: the eps-scaling auction (the algorithm and its bound: the header).
//
// Notation: person i = row i of x1 (data), object j = row j of x0 (noise). offset[j] holds
// -(|x0_j|^2 + p_j), so person i's value of object j is 2 x1_i.x0_j + offset[j]: the scan of
// tensor/best_two.h with a = 2 x1_i (the rows of `twice`) over the columns of x0 transposed. A bid
// raises the price, so it lowers the offset.
#include "flow/auction.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>

#include "flow/assignment.h"
#include "tensor/best_two.h"
#include "tensor/host_tasks.h"

namespace fm {
namespace {

// The eps schedule: eps0 = kFirstEps * the mean cost from zero prices, kWarmEps * the mean cost
// from the coarse problem's prices, then eps / kEpsFactor per phase (the values that made the
// fewest bids on 2-D batches of 2,048 at rel = 1e-2: eps0 / mean in 0.05 .. 1 and factors 4 .. 20
// from zero prices; 0.003 .. 0.05 from coarse prices, whose first phase is then cheap).
constexpr double kFirstEps = 0.1;
constexpr double kWarmEps = 0.02;
constexpr double kEpsFactor = 6.0;

// The coarse problem: the first quarter of the rows, from kCoarseRows rows up (itself warm-started
// the same way when large enough). A quarter gave fewer bids in all than a half or an eighth.
constexpr int64_t kCoarseDivisor = 4;
constexpr int64_t kCoarseRows = 128;

// The dual bound costs a scan per person, so it is computed only once the phase's own bound is
// within this factor of the target (it was about half as far from it on the batches above).
constexpr double kDualTry = 3.0;

struct Bid {
  int32_t object;
  float offset;  // the object's offset at the price offered
};

// Rows of the column arrays start on a cache line: their stride rounded up to 16 floats.
int64_t line_stride(int64_t n) { return (n + 15) / 16 * 16; }

struct Auction {
  int64_t n, d, ldx;  // ldx: the row stride of noise_t
  AuctionWorkspace& ws;
  AuctionStats& stats;

  // Person i's bid against the prices as they stand: its best object j1, at the price that leaves
  // j1 worth the second best value minus eps to it (raised by at least one float step).
  Bid bid_of(int32_t i, float eps) const {
    const BestTwo b = best_two(ws.twice.data() + i * d, ws.noise_t.data(), ldx, ws.offset.data(), n, d);
    const int32_t j = int32_t(b.index);
    const float old = ws.offset[size_t(j)], w2 = n > 1 ? b.second : b.best;
    const float lowered = old - ((b.best - w2) + eps);
    return {j, lowered < old ? lowered : std::nextafter(old, -std::numeric_limits<float>::infinity())};
  }

  // i takes the bid's object at its price; returns the person who held it (-1: none), now unassigned.
  int32_t take(int32_t i, Bid b) {
    ws.offset[size_t(b.object)] = b.offset;
    const int32_t previous = ws.owner[size_t(b.object)];
    ws.owner[size_t(b.object)] = i, ws.object[size_t(i)] = b.object;
    if (previous >= 0) ws.object[size_t(previous)] = -1;
    return previous;
  }

  // The cost of the current assignment, sum_i |x1_i - x0_object(i)|^2, in double.
  double cost(const float* x0, const float* x1) const {
    double total = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      const float *a = x1 + i * d, *b = x0 + int64_t(ws.object[size_t(i)]) * d;
      for (int64_t k = 0; k < d; ++k) total += (double(a[k]) - b[k]) * (double(a[k]) - b[k]);
    }
    return total;
  }

  // A lower bound on the optimum from the prices alone (weak duality): for any prices p and any
  // permutation sigma, sum_i a_i,sigma(i) <= sum_i max_j (a_ij - p_j) + sum_j p_j, and cost_ij =
  // |x1_i|^2 - a_ij, so
  //     optimum >= sum_i |x1_i|^2 + sum_j |x0_j|^2 + sum_j offset_j - sum_i max_j value_ij
    // (`squares` is the first two sums), less an allowance for rounding: each value is an fma chain
  // of d roundings, each at most 2^-24 of the magnitude of its terms (offsets and 2 x1.x0); the
  // allowance takes d + 1.
  // The phase's own bound, cost - n eps, takes every person's eps-CS slack as used up; most are
  // not, and the objects a person passed over have risen in price since it bid, so this bound is
  // usually about twice as tight. One scan per person, on the CPU threads, in chunks of rows (each
  // row's maximum stored, then summed in order: the same bits for any thread count).
  double dual_lower(double squares, double largest_product) {
    constexpr int64_t kChunk = 128;
    host_tasks((n + kChunk - 1) / kChunk, [&](int64_t c) {
      for (int64_t i = c * kChunk; i < std::min(n, (c + 1) * kChunk); ++i)
        ws.top[size_t(i)] = best_two(ws.twice.data() + i * d, ws.noise_t.data(), ldx, ws.offset.data(), n, d).best;
    });
    double bound = squares, largest_offset = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      bound += double(ws.offset[size_t(i)]) - double(ws.top[size_t(i)]);
      largest_offset = std::max(largest_offset, std::fabs(double(ws.offset[size_t(i)])));
    }
    return bound - double(n) * double(d + 1) * std::ldexp(largest_offset + largest_product, -24);
  }

  // One phase at eps: every person starts unassigned (the prices are kept), and the unassigned bid
  // one at a time (Gauss-Seidel) until each holds an object, from a queue: a ring of n slots, as a
  // person is in it at most once.
  void phase(float eps) {
    ++stats.phases;
    std::fill(ws.owner.begin(), ws.owner.end(), -1);
    std::fill(ws.object.begin(), ws.object.end(), -1);
    int32_t* queue = ws.queue.data();
    int64_t head = 0, count = n;
    for (int32_t i = 0; i < int32_t(n); ++i) queue[i] = i;
    while (count > 0) {
      const int32_t i = queue[head];
      head = head + 1 == n ? 0 : head + 1, --count;
      ++stats.bids;
      const int32_t displaced = take(i, bid_of(i, eps));
      if (displaced >= 0) queue[(head + count++) % n] = displaced;
    }
  }
};

// Prices for all n objects from the coarse problem's equilibrium: solve the first m = n / 4 rows of
// both sets (a fair sample where rows come in random order, as a training batch's do), read each
// coarse person's profit pi_i = a_i,sigma(i) - p_sigma(i), and price every object j so that no
// coarse person gains more from it than it has (the c-transform, the least such price):
//     p_j = max_{i < m} (a_ij - pi_i),   offset_j = -|x0_j|^2 - p_j = -max_{i < m} (2 x0_j.x1_i - pi_i),
// a scan over the coarse persons per object. The prices of the OT problem are its Kantorovich
// potential, a function of the point that a sample of a quarter already traces; so the phases can
// start at a small eps, where from zero prices the first phase is a bidding war (on moons, 18,000 of
// 50,000 bids). Any prices are correct (eps-CS holds for whatever the phases assign); good ones
// only save bids.
void coarse_prices(const float* x0, const float* x1, int64_t n, int64_t d, double relative_eps, AuctionWorkspace& ws,
                   AuctionStats& stats) {
  const int64_t m = n / kCoarseDivisor;
  if (!ws.coarse) ws.coarse = std::make_unique<AuctionWorkspace>();
  AuctionWorkspace& c = *ws.coarse;
  c.perm.resize(size_t(m));
  const AuctionStats cs = ot_pairing_auction(x0, x1, m, d, relative_eps, c.perm.data(), c);
  stats.bids += cs.bids, stats.phases += cs.phases, stats.duals += cs.duals;
  // The coarse persons as columns: 2 x1 transposed (so that object j's own row of x0 is the scan's
  // coefficients; doubling is exact, so the values are those of 2 x0_j against x1), and -pi_i as
  // the scan's offsets.
  const int64_t ldp = line_stride(m);
  c.persons_t.resize(size_t(ldp * d)), c.minus_profit.resize(size_t(m));
  for (int64_t i = 0; i < m; ++i) {
    const int64_t j = c.perm[size_t(i)];
    double value = c.offset[size_t(j)];
    for (int64_t k = 0; k < d; ++k) {
      value += double(c.twice[size_t(i * d + k)]) * x0[j * d + k];
      c.persons_t[size_t(k * ldp + i)] = c.twice[size_t(i * d + k)];
    }
    c.minus_profit[size_t(i)] = -float(value);
  }
  constexpr int64_t kChunk = 256;
  host_tasks((n + kChunk - 1) / kChunk, [&](int64_t chunk) {
    for (int64_t j = chunk * kChunk; j < std::min(n, (chunk + 1) * kChunk); ++j)
      ws.offset[size_t(j)] = -best_two(x0 + j * d, c.persons_t.data(), ldp, c.minus_profit.data(), m, d).best;
  });
}

}  // namespace

AuctionStats ot_pairing_auction(const float* x0, const float* x1, int64_t n, int64_t d, double relative_eps,
                                int32_t* perm, AuctionWorkspace& ws) {
  if (n < 0) throw std::invalid_argument("ot_pairing_auction: n = " + std::to_string(n) + " < 0");
  if (!(relative_eps > 0.0) || !std::isfinite(relative_eps))
    throw std::invalid_argument("ot_pairing_auction: the relative eps must be positive");
  AuctionStats stats;
  if (n == 0) return stats;
  if (d < 1) throw std::invalid_argument("ot_pairing_auction: d = " + std::to_string(d) + " < 1");
  check_finite(x0, n * d, "ot_pairing_auction: x0");
  check_finite(x1, n * d, "ot_pairing_auction: x1");
  const size_t m = size_t(n);
  const int64_t ldx = line_stride(n);
  ws.noise_t.resize(size_t(ldx * d)), ws.twice.resize(m * size_t(d)), ws.offset.resize(m);
  ws.owner.resize(m), ws.object.resize(m), ws.queue.resize(m), ws.top.resize(m);
  // The scale: the mean cost of the pairs as given, for eps; and a bound on every squared distance,
  // (max |x0| + max |x1|)^2, which also bounds the values |2 x1.x0 - |x0|^2| and the price rises,
  // for the check against float's range and the floor on eps. `squares` (sum |x0|^2 + |x1|^2)
  // enters the dual bound.
  double mean_cost = 0.0, norm0 = 0.0, norm1 = 0.0, squares = 0.0;
  for (int64_t j = 0; j < n; ++j) {
    double s0 = 0.0, s1 = 0.0, c = 0.0;
    for (int64_t k = 0; k < d; ++k) {
      const double a = x0[j * d + k], b = x1[j * d + k];
      ws.noise_t[size_t(k * ldx + j)] = x0[j * d + k];
      ws.twice[size_t(j * d + k)] = 2.0f * x1[j * d + k];
      s0 += a * a, s1 += b * b, c += (a - b) * (a - b);
    }
    ws.offset[size_t(j)] = -float(s0);
    squares += s0 + s1, mean_cost += c / double(n), norm0 = std::max(norm0, s0), norm1 = std::max(norm1, s1);
  }
  const double magnitude = std::pow(std::sqrt(norm0) + std::sqrt(norm1), 2.0);
  if (!(magnitude <= 1e37)) throw std::invalid_argument("ot_pairing_auction: squared distances overflow float");
  const bool warm = n / kCoarseDivisor >= kCoarseRows;
  if (warm) coarse_prices(x0, x1, n, d, relative_eps, ws, stats);
  // Phases until cost <= (1 + relative_eps) * lower, where lower is the best lower bound on the
  // optimum proven so far: cost - n eps (>= 0) of each phase, and the dual bound once that is
  // near. The floor on eps keeps every bid a visible step in float and ends the phases where the
  // optimum is (near) 0.
  const double floor = magnitude > 0.0 ? std::ldexp(magnitude, -20) : 1.0;
  Auction a{n, d, ldx, ws, stats};
  double lower = 0.0;
  for (double eps = std::max((warm ? kWarmEps : kFirstEps) * mean_cost, floor);;) {
    a.phase(float(eps));
    const double cost = a.cost(x0, x1);
    lower = std::max(lower, cost - double(n) * eps);
    if (cost > (1.0 + relative_eps) * lower && double(n) * eps <= kDualTry * relative_eps * lower) {
      lower = std::max(lower, a.dual_lower(squares, 2.0 * std::sqrt(norm0 * norm1)));
      ++stats.duals;
    }
    stats.eps = eps, stats.cost = cost, stats.lower = lower;
    if (cost <= (1.0 + relative_eps) * lower || eps <= floor) break;
    eps = std::max({eps / kEpsFactor, relative_eps * lower / double(n), floor});  // the last phase at just the eps needed
  }
  std::copy_n(ws.object.data(), n, perm);
  return stats;
}

}  // namespace fm
