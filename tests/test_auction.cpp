// tests/test_auction.cpp: the eps-optimal auction (flow/auction.h) against brute force and the
// exact solver (flow/assignment.h): every answer a permutation within its proven n * eps of the
// optimum; and its scan, best_two (tensor/best_two.h), the AVX-512 kernel against the portable loop.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

#include "flow/assignment.h"
#include "flow/auction.h"
#include "ot_fixtures.h"
#include "tensor/best_two.h"
#include "tensor/cpu/thread_pool.h"

using namespace fm;
using namespace fm::test;

namespace {

// The scan's definition, written out: each value the fma chain, then the largest, its lowest
// column, and the largest of the others.
BestTwo best_two_by_definition(const std::vector<float>& a, const std::vector<float>& x, const std::vector<float>& b,
                               int64_t n, int64_t d) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) {
    v[size_t(j)] = b[size_t(j)];
    for (int64_t k = 0; k < d; ++k) v[size_t(j)] = std::fma(a[size_t(k)], x[size_t(k * n + j)], v[size_t(j)]);
  }
  const int64_t top = std::max_element(v.begin(), v.end()) - v.begin();  // the first of the largest
  float second = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < n; ++j)
    if (j != top) second = std::max(second, v[size_t(j)]);
  return {v[size_t(top)], second, top};
}

// Runs the auction and checks what it proves: a permutation costing at most n * eps (plus float
// rounding of the costs) above the optimum `best`, a lower bound no higher than the optimum, and
// its own cost reported right. Returns the cost.
double check_auction(const std::vector<float>& x0, const std::vector<float>& x1, int64_t n, int64_t d, double rel,
                     double best, AuctionWorkspace& ws, AuctionStats* stats = nullptr) {
  Perm p(static_cast<size_t>(n));
  const AuctionStats s = ot_pairing_auction(x0.data(), x1.data(), n, d, rel, p.data(), ws);
  if (stats) *stats = s;
  REQUIRE(is_permutation(p, n));
  const double cost = cost_of(squared_distances(x0, x1, n, d), p);
  const double tol = 1e-5 * (1.0 + best);
  CHECK(s.eps > 0.0);
  CHECK(cost >= best - tol);
  CHECK(cost <= best + double(n) * s.eps + tol);
  CHECK(s.lower <= best + tol);
  CHECK(s.cost == doctest::Approx(cost).epsilon(1e-6));  // the test's costs are rounded to float
  return cost;
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("best_two: the AVX-512 kernel and the portable loop give the definition's bits") {
  std::mt19937_64 g(21);
  for (int mode : {1, 0}) {
    best_two_force_portable(mode);
    for (int64_t n : {1, 2, 15, 16, 17, 63, 64, 65, 100, 2048, 2049})
      for (int64_t d : {1, 2, 3, 4, 7})
        for (int ties = 0; ties < 2; ++ties) {
          std::vector<float> a = gaussian(g, d), x = gaussian(g, d * n), b = gaussian(g, n);
          if (ties)  // integers: equal values, a tie for the best among them
            for (std::vector<float>* v : {&a, &x, &b})
              for (float& e : *v) e = std::round(e);
          const BestTwo want = best_two_by_definition(a, x, b, n, d);
          const BestTwo got = best_two(a.data(), x.data(), n, b.data(), n, d);
          CAPTURE(mode);
          CAPTURE(n);
          CAPTURE(d);
          CAPTURE(ties);
          CHECK(got.index == want.index);
          CHECK(got.best == want.best);
          CHECK((got.second == want.second || (std::isinf(got.second) && std::isinf(want.second))));
        }
  }
  best_two_force_portable(-1);
}

TEST_CASE("best_two: the row stride, and the lowest column among equal bests") {
  for (int mode : {1, 0}) {
    best_two_force_portable(mode);
    // 40 columns, d = 2 with row stride 50; columns 7 and 33 tie for the best, 20 is third.
    std::vector<float> x(100, 0.0f), b(40, -1.0f);
    const std::vector<float> a = {1.0f, 2.0f};
    x[7] = 1.0f, x[50 + 33] = 0.5f, x[20] = 0.25f;  // values: 7 -> 0, 33 -> 0, 20 -> -0.75, rest -1
    const BestTwo r = best_two(a.data(), x.data(), 50, b.data(), 40, 2);
    CAPTURE(mode);
    CHECK(r.index == 7);
    CHECK(r.best == 0.0f);
    CHECK(r.second == 0.0f);
    x[7] = 0.0f;  // now 33 alone, then 20
    const BestTwo s = best_two(a.data(), x.data(), 50, b.data(), 40, 2);
    CHECK(s.index == 33);
    CHECK(s.second == -0.75f);
  }
  best_two_force_portable(-1);
}

TEST_CASE("auction: within n eps of brute force on every small size") {
  std::mt19937_64 g(22);
  AuctionWorkspace ws;
  for (int64_t n = 1; n <= 8; ++n)
    for (int rep = 0; rep < (n <= 6 ? 20 : 3); ++rep)
      for (int64_t d : {1, 2, 5}) {
        const std::vector<float> x0 = gaussian(g, n * d), x1 = gaussian(g, n * d);
        CAPTURE(n);
        CAPTURE(d);
        for (double rel : {1e-1, 1e-3})
          check_auction(x0, x1, n, d, rel, brute_force(squared_distances(x0, x1, n, d), n), ws);
      }
}

TEST_CASE("auction: within n eps of the exact optimum at training sizes, and close to it") {
  std::mt19937_64 g(23);
  AuctionWorkspace ws;  // reused across sizes on purpose
  struct Case {
    int64_t n, d;
    bool toy;  // Gaussian to checkerboard (else Gaussian to Gaussian)
  };
  for (const Case& c : {Case{300, 2, true}, Case{1000, 2, true}, Case{700, 2, false}, Case{400, 5, false}, Case{64, 784, false}}) {
    const int64_t n = c.n, d = c.d;
    const bool toy = c.toy;
    const std::vector<float> x0 = gaussian(g, n * d), x1 = toy ? checkerboard(g, n) : gaussian(g, n * d);
    const Perm exact = ot_pairing(x0.data(), x1.data(), n, d);
    const double best = cost_of(squared_distances(x0, x1, n, d), exact);
    CAPTURE(n);
    CAPTURE(d);
    // Where the optimum is far from 0 the phases end once the cost is within 1 + rel of a proven
    // lower bound (check_auction: no higher than the optimum), so within 1 + rel of the optimum.
    AuctionStats s;
    const double cost = check_auction(x0, x1, n, d, 3e-3, best, ws, &s);
    if (toy) {
      CHECK(s.cost <= (1.0 + 3e-3) * s.lower);  // the proof's premise...
      CHECK(cost <= best * (1.0 + 3e-3));       // ...and its conclusion
    }
  }
}

TEST_CASE("auction: rows in sorted order (the coarse problem a biased sample) still within n eps") {
  // The coarse-to-fine start prices all objects from the first quarter of the rows; sorted by the
  // first coordinate, that quarter is one end of each set. The prices are then poor, not wrong.
  std::mt19937_64 g(27);
  AuctionWorkspace ws;
  const int64_t n = 1024, d = 2;
  std::vector<float> x0 = gaussian(g, n * d), x1 = checkerboard(g, n);
  for (std::vector<float>* x : {&x0, &x1}) {
    std::vector<std::pair<float, float>> rows(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) rows[size_t(i)] = {(*x)[size_t(2 * i)], (*x)[size_t(2 * i + 1)]};
    std::sort(rows.begin(), rows.end());
    if (x == &x1) std::reverse(rows.begin(), rows.end());  // the two quarters at opposite ends
    for (int64_t i = 0; i < n; ++i) (*x)[size_t(2 * i)] = rows[size_t(i)].first, (*x)[size_t(2 * i + 1)] = rows[size_t(i)].second;
  }
  const double best = cost_of(squared_distances(x0, x1, n, d), ot_pairing(x0.data(), x1.data(), n, d));
  AuctionStats s;
  const double cost = check_auction(x0, x1, n, d, 1e-2, best, ws, &s);
  CHECK(cost <= best * (1.0 + 1e-2));
}

TEST_CASE("auction: known optima: a permuted copy, points on a line") {
  std::mt19937_64 g(24);
  AuctionWorkspace ws;
  for (auto [n, d] : {std::pair<int64_t, int64_t>{500, 2}, {300, 3}}) {  // optimum 0: back to sigma
    const std::vector<float> x0 = gaussian(g, n * d);
    Perm sigma(static_cast<size_t>(n));
    std::iota(sigma.begin(), sigma.end(), 0);
    std::shuffle(sigma.begin(), sigma.end(), g);
    std::vector<float> x1(size_t(n * d));
    for (int64_t i = 0; i < n; ++i) std::copy_n(x0.begin() + sigma[size_t(i)] * d, d, x1.begin() + i * d);
    CAPTURE(n);
    check_auction(x0, x1, n, d, 1e-3, 0.0, ws);
  }
  const int64_t n = 800;  // d = 1: the sorted pairing is optimal
  const std::vector<float> x0 = gaussian(g, n), x1 = gaussian(g, n);
  Perm o0(static_cast<size_t>(n)), o1(static_cast<size_t>(n)), sorted(static_cast<size_t>(n));
  std::iota(o0.begin(), o0.end(), 0), std::iota(o1.begin(), o1.end(), 0);
  std::sort(o0.begin(), o0.end(), [&](int32_t a, int32_t b) { return x0[size_t(a)] < x0[size_t(b)]; });
  std::sort(o1.begin(), o1.end(), [&](int32_t a, int32_t b) { return x1[size_t(a)] < x1[size_t(b)]; });
  for (int64_t k = 0; k < n; ++k) sorted[size_t(o1[size_t(k)])] = o0[size_t(k)];
  check_auction(x0, x1, n, 1, 1e-3, cost_of(squared_distances(x0, x1, n, 1), sorted), ws);
}

TEST_CASE("auction: degenerate inputs end") {
  AuctionWorkspace ws;
  CHECK(ot_pairing_auction(nullptr, nullptr, 0, 2, 1e-3, nullptr, ws).bids == 0);
  for (int64_t n : {1, 2, 300}) {  // every point the same (all costs equal), at 0 and elsewhere
    for (float at : {0.0f, 3.0f}) {
      const std::vector<float> same(size_t(n * 2), at);
      CAPTURE(n);
      check_auction(same, same, n, 2, 1e-3, 0.0, ws);
    }
  }
  // Two clusters far apart (values near 1e8 against a spread near 1): the eps floor keeps bids moving.
  std::mt19937_64 g(25);
  std::vector<float> x0 = gaussian(g, 600), x1 = gaussian(g, 600);
  for (size_t k = 0; k < 600; k += 2) x0[k] += 1e4f, x1[k] -= 1e4f;
  Perm p(300);
  const AuctionStats s = ot_pairing_auction(x0.data(), x1.data(), 300, 2, 1e-3, p.data(), ws);
  CHECK(is_permutation(p, 300));
  CHECK(s.eps > 0.0);
}

TEST_CASE("auction: a reused workspace gives the same answers as a fresh one") {
  std::mt19937_64 g(26);
  AuctionWorkspace ws;
  for (int64_t n : {600, 10, 2048, 130}) {
    const std::vector<float> x0 = gaussian(g, 2 * n), x1 = checkerboard(g, n);
    Perm p(static_cast<size_t>(n)), q(static_cast<size_t>(n));
    ot_pairing_auction(x0.data(), x1.data(), n, 2, 1e-3, p.data(), ws);
    AuctionWorkspace fresh;
    ot_pairing_auction(x0.data(), x1.data(), n, 2, 1e-3, q.data(), fresh);
    CAPTURE(n);
    CHECK(p == q);
  }
}

TEST_CASE("auction: the same pairing and bounds on 1, 2 and 3 threads") {
  // The dual bound and the coarse prices are computed on the CPU threads: per row, then summed in
  // row order, so the thread count must not change a bit.
  std::mt19937_64 g(28);
  const int64_t n = 2048;
  const std::vector<float> x0 = gaussian(g, 2 * n), x1 = checkerboard(g, n);
  Perm want(static_cast<size_t>(n));
  AuctionStats first;
  for (int threads : {1, 2, 3}) {
    fm::set_num_threads(threads);
    Perm p(static_cast<size_t>(n));
    AuctionWorkspace ws;
    const AuctionStats s = ot_pairing_auction(x0.data(), x1.data(), n, 2, 1e-2, p.data(), ws);
    CAPTURE(threads);
    CHECK(s.duals > 0);  // the threaded bound was used
    if (threads == 1) {
      want = p, first = s;
      continue;
    }
    CHECK(p == want);
    CHECK(s.lower == first.lower);
    CHECK(s.bids == first.bids);
  }
  fm::set_num_threads(1);
}

TEST_CASE("auction: bad arguments throw") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  std::vector<float> x0(8, 0.5f), x1(8, 0.25f);
  std::vector<int32_t> p(4);
  AuctionWorkspace ws;
  CHECK_THROWS_AS(ot_pairing_auction(x0.data(), x1.data(), -1, 2, 1e-3, p.data(), ws), std::invalid_argument);
  CHECK_THROWS_AS(ot_pairing_auction(x0.data(), x1.data(), 4, 0, 1e-3, p.data(), ws), std::invalid_argument);
  for (double rel : {0.0, -1.0, double(nan), double(inf)})
    CHECK_THROWS_AS(ot_pairing_auction(x0.data(), x1.data(), 4, 2, rel, p.data(), ws), std::invalid_argument);
  x1[5] = nan;
  CHECK_THROWS_AS(ot_pairing_auction(x0.data(), x1.data(), 4, 2, 1e-3, p.data(), ws), std::invalid_argument);
  x1[5] = 3e19f;  // squared distances beyond float
  CHECK_THROWS_AS(ot_pairing_auction(x0.data(), x1.data(), 4, 2, 1e-3, p.data(), ws), std::invalid_argument);
}

}  // TEST_SUITE
