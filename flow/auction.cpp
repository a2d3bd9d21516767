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
#include <stdexcept>
#include <string>

#include "flow/assignment.h"
#include "tensor/best_two.h"

namespace fm {
namespace {

// The eps schedule: eps0 = kFirstEps * the mean cost, then eps / kEpsFactor per phase (the pair that
// made the fewest bids on 2-D batches of 2,048 at rel = 1e-2, of eps0 / mean in 0.05 .. 1 and
// factors 4 .. 20).
constexpr double kFirstEps = 0.1;
constexpr double kEpsFactor = 6.0;

struct Bid {
  int32_t object;
  float offset;  // the object's offset at the price offered
};

struct Auction {
  int64_t n, d;
  AuctionWorkspace& ws;
  AuctionStats& stats;

  // Person i's bid against the prices as they stand: its best object j1, at the price that leaves
  // j1 worth the second best value minus eps to it (raised by at least one float step).
  Bid bid_of(int32_t i, float eps) const {
    const BestTwo b = best_two(ws.twice.data() + i * d, ws.noise_t.data(), n, ws.offset.data(), n, d);
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
  ws.noise_t.resize(m * size_t(d)), ws.twice.resize(m * size_t(d)), ws.offset.resize(m);
  ws.owner.resize(m), ws.object.resize(m), ws.queue.resize(m);
  // The scale: the mean cost of the pairs as given, for eps; and a bound on every squared distance,
  // (max |x0| + max |x1|)^2, which also bounds the values |2 x1.x0 - |x0|^2| and the price rises,
  // for the check against float's range and the floor on eps.
  double mean_cost = 0.0, norm0 = 0.0, norm1 = 0.0;
  for (int64_t j = 0; j < n; ++j) {
    double s0 = 0.0, s1 = 0.0, c = 0.0;
    for (int64_t k = 0; k < d; ++k) {
      const double a = x0[j * d + k], b = x1[j * d + k];
      ws.noise_t[size_t(k * n + j)] = x0[j * d + k];
      ws.twice[size_t(j * d + k)] = 2.0f * x1[j * d + k];
      s0 += a * a, s1 += b * b, c += (a - b) * (a - b);
    }
    ws.offset[size_t(j)] = -float(s0);
    mean_cost += c / double(n), norm0 = std::max(norm0, s0), norm1 = std::max(norm1, s1);
  }
  const double magnitude = std::pow(std::sqrt(norm0) + std::sqrt(norm1), 2.0);
  if (!(magnitude <= 1e37)) throw std::invalid_argument("ot_pairing_auction: squared distances overflow float");
  // Phases until eps <= relative_eps * lower / n, where lower = cost - n eps (>= 0) is the lower
  // bound on the optimum that the phase just ended proves; then cost <= optimum + n eps <=
  // (1 + relative_eps) optimum. The floor on eps keeps every bid a visible step in float and ends
  // the phases where the optimum is (near) 0.
  const double floor = magnitude > 0.0 ? std::ldexp(magnitude, -20) : 1.0;
  Auction a{n, d, ws, stats};
  double lower = 0.0;
  for (double eps = std::max(kFirstEps * mean_cost, floor);;) {
    a.phase(float(eps));
    const double cost = a.cost(x0, x1);
    lower = std::max(lower, cost - double(n) * eps);
    stats.eps = eps, stats.cost = cost, stats.lower = lower;
    const double enough = relative_eps * lower / double(n);
    if (eps <= enough || eps <= floor) break;
    eps = std::max({eps / kEpsFactor, enough, floor});  // the last phase at just the eps needed
  }
  std::copy_n(ws.object.data(), n, perm);
  return stats;
}

}  // namespace fm
