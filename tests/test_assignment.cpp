// tests/test_assignment.cpp: the exact linear assignment solver (flow/assignment.h) against brute
// force, known optima, an independent optimality certificate, and its own dual certificate.
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
#include "ot_fixtures.h"

using namespace fm;
using namespace fm::test;

namespace {

// Checks a dual certificate: u_i + v_j <= c_ij + tol for all i, j, and equality (within tol) on
// every matched pair. Together they prove p optimal up to n tol (weak duality: any permutation q
// costs sum_i c_iq(i) >= sum u + sum v >= cost(p) - n tol).
void check_certificate(const std::vector<float>& c, const Perm& p, const std::vector<double>& u,
                       const std::vector<double>& v, double tol) {
  const size_t n = p.size();
  REQUIRE(u.size() >= n);
  REQUIRE(v.size() >= n);
  double worst = 0.0, worst_tight = 0.0;
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) worst = std::max(worst, u[i] + v[j] - double(c[i * n + j]));
    worst_tight = std::max(worst_tight, std::fabs(u[i] + v[size_t(p[i])] - double(c[i * n + size_t(p[i])])));
  }
  CHECK(worst <= tol);
  CHECK(worst_tight <= tol);
}

// An independent certificate, from the matching alone: p is optimal iff the exchange graph on
// columns (an edge p(i) -> j of weight c_ij - c_i,p(i): row i moves to column j) has no negative
// cycle. Bellman-Ford from a virtual source; returns false on a cycle found (beyond tol).
bool no_negative_cycle(const std::vector<float>& c, const Perm& p, double tol) {
  const size_t n = p.size();
  std::vector<double> dist(n, 0.0);
  for (size_t round = 0; round <= n; ++round) {
    bool changed = false;
    for (size_t i = 0; i < n; ++i) {
      const size_t from = size_t(p[i]);
      const double base = dist[from] - double(c[i * n + from]);
      for (size_t j = 0; j < n; ++j) {
        const double nd = base + double(c[i * n + j]);
        if (nd < dist[j] - tol) dist[j] = nd, changed = true;
      }
    }
    if (!changed) return true;
  }
  return false;
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("assignment: brute force on every small size, with and without ties") {
  std::mt19937_64 g(7);
  for (int64_t n = 1; n <= 8; ++n)
    for (int rep = 0; rep < (n <= 6 ? 60 : 12); ++rep)
      for (int kind = 0; kind < 3; ++kind) {
        // kind 0: continuous costs; 1: integers 0..3 (many ties); 2: integers 0..9, negative shift.
        std::vector<float> c = kind == 0   ? random_costs(g, n, -5.0f, 5.0f, false)
                               : kind == 1 ? random_costs(g, n, 0.0f, 4.0f, true)
                                           : random_costs(g, n, -20.0f, -10.0f, true);
        CAPTURE(n);
        CAPTURE(kind);
        const Perm p = solve_assignment(c.data(), n);
        REQUIRE(is_permutation(p, n));
        CHECK(cost_of(c, p) == doctest::Approx(brute_force(c, n)).epsilon(1e-9));
      }
}

TEST_CASE("assignment: degenerate inputs") {
  CHECK(solve_assignment(nullptr, 0).empty());
  CHECK(ot_pairing(nullptr, nullptr, 0, 2).empty());
  const float one = 3.5f;
  CHECK(solve_assignment(&one, 1) == Perm{0});
  for (int64_t n : {2, 7, 200, 600}) {  // all equal: any permutation is optimal
    const std::vector<float> c(size_t(n * n), 1.25f);
    const Perm p = solve_assignment(c.data(), n);
    CHECK(is_permutation(p, n));
    CHECK(cost_of(c, p) == doctest::Approx(1.25 * double(n)));
  }
  // Identical points: every pairing costs 0.
  const std::vector<float> same(200 * 3, 0.5f);
  CHECK(is_permutation(ot_pairing(same.data(), same.data(), 200, 3), 200));
}

TEST_CASE("assignment: c_ij = a_i b_j pairs sorted a with anti-sorted b (rearrangement inequality)") {
  std::mt19937_64 g(11);
  for (int64_t n : {50, 300, 1000}) {
    // Distinct positive integers, so products are exact floats and the optimum is unique.
    std::vector<int> pool(4000);
    std::iota(pool.begin(), pool.end(), 1);
    std::shuffle(pool.begin(), pool.end(), g);
    std::vector<float> a(pool.begin(), pool.begin() + n), b(pool.begin() + n, pool.begin() + 2 * n);
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    std::vector<float> c(size_t(n * n));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) c[size_t(i * n + j)] = a[size_t(i)] * b[size_t(j)] / 1024.0f;
    const Perm p = solve_assignment(c.data(), n);
    Perm anti(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) anti[size_t(i)] = int32_t(n - 1 - i);
    CAPTURE(n);
    CHECK(p == anti);
  }
}

TEST_CASE("assignment: points on a line pair sorted with sorted") {
  std::mt19937_64 g(12);
  for (int64_t n : {10, 127, 128, 500, 2048}) {
    const std::vector<float> x0 = gaussian(g, n);
    std::vector<float> x1(static_cast<size_t>(n));
    std::uniform_real_distribution<float> u(-3.0f, 5.0f);
    for (float& a : x1) a = u(g);
    const Perm p = ot_pairing(x0.data(), x1.data(), n, 1);
    REQUIRE(is_permutation(p, n));
    // The sorted pairing: the k-th smallest of x1 with the k-th smallest of x0.
    Perm o0(static_cast<size_t>(n)), o1(static_cast<size_t>(n)), sorted(static_cast<size_t>(n));
    std::iota(o0.begin(), o0.end(), 0), std::iota(o1.begin(), o1.end(), 0);
    std::sort(o0.begin(), o0.end(), [&](int32_t a, int32_t b) { return x0[size_t(a)] < x0[size_t(b)]; });
    std::sort(o1.begin(), o1.end(), [&](int32_t a, int32_t b) { return x1[size_t(a)] < x1[size_t(b)]; });
    for (int64_t k = 0; k < n; ++k) sorted[size_t(o1[size_t(k)])] = o0[size_t(k)];
    const std::vector<float> c = squared_distances(x0, x1, n, 1);
    CAPTURE(n);
    CHECK(cost_of(c, p) == doctest::Approx(cost_of(c, sorted)).epsilon(1e-6));
  }
}

TEST_CASE("assignment: a permuted copy is paired back exactly, at cost 0") {
  std::mt19937_64 g(13);
  for (auto [n, d] : {std::pair<int64_t, int64_t>{300, 2}, {2048, 2}, {500, 3}, {64, 784}, {40, 3072}}) {
    const std::vector<float> x0 = gaussian(g, n * d);  // distinct points (almost surely)
    Perm sigma(static_cast<size_t>(n));
    std::iota(sigma.begin(), sigma.end(), 0);
    std::shuffle(sigma.begin(), sigma.end(), g);
    std::vector<float> x1(size_t(n * d));  // x1[i] = x0[sigma[i]]
    for (int64_t i = 0; i < n; ++i)
      std::copy_n(x0.begin() + sigma[size_t(i)] * d, d, x1.begin() + i * d);
    CAPTURE(n);
    CAPTURE(d);
    CHECK(ot_pairing(x0.data(), x1.data(), n, d) == sigma);
  }
}

TEST_CASE("assignment: the solver's duals are a certificate, and no exchange cycle improves it") {
  std::mt19937_64 g(14);
  AssignmentWorkspace ws;  // reused across sizes on purpose
  for (auto [n, kind] : {std::pair<int64_t, int>{100, 0}, {100, 1}, {400, 0}, {400, 1}, {1000, 0}, {129, 2}}) {
    // kind 0: uniform costs; 1: integers 0..9 (ties); 2: squared distances, Gaussian to checkerboard.
    std::vector<float> c;
    if (kind == 2) c = squared_distances(gaussian(g, 2 * n), checkerboard(g, n), n, 2);
    else c = kind == 0 ? random_costs(g, n, 0.0f, 100.0f, false) : random_costs(g, n, 0.0f, 10.0f, true);
    Perm p(static_cast<size_t>(n));
    solve_assignment(c.data(), n, p.data(), ws);
    CAPTURE(n);
    CAPTURE(kind);
    REQUIRE(is_permutation(p, n));
    check_certificate(c, p, ws.u, ws.v, 1e-6);
    double dual = 0.0;
    for (int64_t i = 0; i < n; ++i) dual += ws.u[size_t(i)] + ws.v[size_t(i)];
    CHECK(cost_of(c, p) == doctest::Approx(dual).epsilon(1e-9));
    if (n <= 400) CHECK(no_negative_cycle(c, p, 1e-9));
  }
}

TEST_CASE("assignment: ot_pairing at training size, Gaussian to checkerboard, certified") {
  std::mt19937_64 g(15);
  const int64_t n = 2048;
  const std::vector<float> x0 = gaussian(g, 2 * n), x1 = checkerboard(g, n);
  AssignmentWorkspace ws;
  Perm p(static_cast<size_t>(n));
  ot_pairing(x0.data(), x1.data(), n, 2, p.data(), ws);
  REQUIRE(is_permutation(p, n));
  // The duals certify the solver's own float costs (which may differ from these by an ulp).
  const std::vector<float> c = squared_distances(x0, x1, n, 2);
  check_certificate(c, p, ws.u, ws.v, 1e-5);
  // Far below the identity pairing.
  Perm id(static_cast<size_t>(n));
  std::iota(id.begin(), id.end(), 0);
  CHECK(cost_of(c, p) < 0.1 * cost_of(c, id));
}

TEST_CASE("assignment: ot_pairing agrees with solve_assignment on the squared-distance matrix") {
  std::mt19937_64 g(16);
  for (auto [n, d] : {std::pair<int64_t, int64_t>{5, 2}, {200, 2}, {700, 2}, {300, 1}, {256, 4}, {300, 5}, {64, 784},
                      {64, 3072}}) {
    const std::vector<float> x0 = gaussian(g, n * d), x1 = gaussian(g, n * d);
    const std::vector<float> c = squared_distances(x0, x1, n, d);
    const Perm p = ot_pairing(x0.data(), x1.data(), n, d), q = solve_assignment(c.data(), n);
    CAPTURE(n);
    CAPTURE(d);
    REQUIRE(is_permutation(p, n));
    REQUIRE(is_permutation(q, n));
    CHECK(cost_of(c, p) == doctest::Approx(cost_of(c, q)).epsilon(1e-6));
  }
}

TEST_CASE("assignment: a reused workspace gives the same answers as a fresh one") {
  std::mt19937_64 g(17);
  AssignmentWorkspace ws;
  for (int64_t n : {600, 10, 2048, 130, 600}) {
    const std::vector<float> x0 = gaussian(g, 2 * n), x1 = checkerboard(g, n);
    Perm p(static_cast<size_t>(n));
    ot_pairing(x0.data(), x1.data(), n, 2, p.data(), ws);
    CAPTURE(n);
    CHECK(p == ot_pairing(x0.data(), x1.data(), n, 2));
  }
}

TEST_CASE("assignment: bad arguments throw") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  std::vector<float> c(9, 1.0f);
  CHECK_THROWS_AS(solve_assignment(c.data(), -1), std::invalid_argument);
  for (float bad : {nan, inf, -inf}) {
    c[4] = bad;
    CHECK_THROWS_AS(solve_assignment(c.data(), 3), std::invalid_argument);
  }
  std::vector<float> x0(8, 0.5f), x1(8, 0.25f);
  CHECK_THROWS_AS(ot_pairing(x0.data(), x1.data(), -1, 2), std::invalid_argument);
  CHECK_THROWS_AS(ot_pairing(x0.data(), x1.data(), 4, 0), std::invalid_argument);
  x1[5] = nan;
  CHECK_THROWS_AS(ot_pairing(x0.data(), x1.data(), 4, 2), std::invalid_argument);
  x1[5] = 0.0f, x0[0] = inf;
  CHECK_THROWS_AS(ot_pairing(x0.data(), x1.data(), 4, 2), std::invalid_argument);
  x0[0] = 3e19f;  // finite, but its squared distances overflow float
  CHECK_THROWS_AS(ot_pairing(x0.data(), x1.data(), 4, 2), std::invalid_argument);
}

}  // TEST_SUITE
