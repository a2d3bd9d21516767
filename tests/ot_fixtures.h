// tests/ot_fixtures.h: what the assignment suites share (test_assignment.cpp, test_auction.cpp):
// permutations and their costs, brute force, squared distances, and the point sets.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

namespace fm::test {

using Perm = std::vector<int32_t>;

inline bool is_permutation(const Perm& p, int64_t n) {
  if (int64_t(p.size()) != n) return false;
  std::vector<char> seen(size_t(n), 0);
  for (int32_t j : p) {
    if (j < 0 || j >= n || seen[size_t(j)]) return false;
    seen[size_t(j)] = 1;
  }
  return true;
}

inline double cost_of(const std::vector<float>& c, const Perm& p) {
  const size_t n = p.size();
  double s = 0.0;
  for (size_t i = 0; i < n; ++i) s += c[i * n + size_t(p[i])];
  return s;
}

// The least cost over all n! permutations.
inline double brute_force(const std::vector<float>& c, int64_t n) {
  Perm p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  double best = std::numeric_limits<double>::infinity();
  do best = std::min(best, cost_of(c, p));
  while (std::next_permutation(p.begin(), p.end()));
  return best;
}

// ||x0[j] - x1[i]||^2 as a matrix, rows x1 and columns x0 (ot_pairing's convention), in double.
inline std::vector<float> squared_distances(const std::vector<float>& x0, const std::vector<float>& x1, int64_t n, int64_t d) {
  std::vector<float> c(size_t(n * n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (int64_t k = 0; k < d; ++k) {
        const double t = double(x1[size_t(i * d + k)]) - double(x0[size_t(j * d + k)]);
        s += t * t;
      }
      c[size_t(i * n + j)] = float(s);
    }
  return c;
}

inline std::vector<float> random_costs(std::mt19937_64& g, int64_t n, float lo, float hi, bool integer) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> c(size_t(n * n));
  for (float& a : c) a = integer ? std::floor(u(g)) : u(g);
  return c;
}

inline std::vector<float> gaussian(std::mt19937_64& g, int64_t count) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(count));
  for (float& a : x) a = nd(g);
  return x;
}

// n points uniform on the 8 dark squares of a 4 x 4 checkerboard on [-2, 2]^2.
inline std::vector<float> checkerboard(std::mt19937_64& g, int64_t n) {
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::uniform_int_distribution<int> cell(0, 7);
  std::vector<float> x(size_t(2 * n));
  for (int64_t i = 0; i < n; ++i) {
    const int k = cell(g), r = k / 2, col = 2 * (k % 2) + r % 2;
    x[size_t(2 * i)] = -2.0f + float(col) + u(g), x[size_t(2 * i + 1)] = -2.0f + float(r) + u(g);
  }
  return x;
}

}  // namespace fm::test
