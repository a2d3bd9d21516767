// flow/sample_distance.cpp: energy distance and sliced Wasserstein-2 (the math is in the header).
#include "flow/sample_distance.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace fm {

namespace {

// The points of a set as doubles, after checking the arguments; errors name the function `fn` and the set.
std::vector<double> to_double(const char* fn, const char* set, const float* p, int64_t count, int64_t d) {
  const std::string where = std::string(fn) + ": ";
  if (count < 1) throw std::invalid_argument(where + set + " has " + std::to_string(count) + " points (needs >= 1)");
  if (d < 1) throw std::invalid_argument(where + "dimension " + std::to_string(d) + " (needs >= 1)");
  if (!p) throw std::invalid_argument(where + set + " is a null pointer");
  std::vector<double> out(static_cast<size_t>(count * d));
  for (int64_t i = 0; i < count; ++i)
    for (int64_t k = 0; k < d; ++k) {
      const float v = p[i * d + k];
      if (!std::isfinite(v))
        throw std::invalid_argument(where + set + "[" + std::to_string(i) + "][" + std::to_string(k) + "] is not finite");
      out[static_cast<size_t>(i * d + k)] = v;
    }
  return out;
}

double distance(const double* a, const double* b, int64_t d) {
  double s = 0.0;
  for (int64_t k = 0; k < d; ++k) {
    const double t = a[k] - b[k];
    s += t * t;
  }
  return std::sqrt(s);
}

// 1/(n m) sum_ij ||x_i - y_j||. Row sums first: a sum of n row means loses far less than one
// running sum of n m terms.
double mean_cross_distance(const std::vector<double>& x, int64_t n, const std::vector<double>& y, int64_t m, int64_t d) {
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    double row = 0.0;
    for (int64_t j = 0; j < m; ++j) row += distance(&x[i * d], &y[j * d], d);
    total += row;
  }
  return total / (static_cast<double>(n) * static_cast<double>(m));
}

// 1/(n (n-1)) sum_{i != i'} ||x_i - x_i'||, over the pairs i < i' (the sum is symmetric); 0 for n = 1.
double mean_pair_distance(const std::vector<double>& x, int64_t n, int64_t d) {
  if (n < 2) return 0.0;
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    double row = 0.0;
    for (int64_t j = i + 1; j < n; ++j) row += distance(&x[i * d], &x[j * d], d);
    total += row;
  }
  return total / (0.5 * static_cast<double>(n) * static_cast<double>(n - 1));
}

// splitmix64 (Steele, Lea & Flood 2014): a 64-bit state, full period, good enough for directions.
struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform on (0, 1), never 0 (Box-Muller takes its log): the top 53 bits, shifted by half a step.
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }
};

// Box-Muller: two independent standard normals from two uniforms; the second is kept for the next call.
struct Normal {
  SplitMix64 rng;
  bool has_spare = false;
  double spare = 0.0;
  double next() {
    if (has_spare) {
      has_spare = false;
      return spare;
    }
    constexpr double kTwoPi = 6.283185307179586476925;
    const double r = std::sqrt(-2.0 * std::log(rng.uniform())), a = kTwoPi * rng.uniform();
    spare = r * std::sin(a);
    has_spare = true;
    return r * std::cos(a);
  }
};

// W2^2 between the empirical distributions of sorted a [n] and sorted b [m]: the integral of
// (F^-1 - G^-1)^2 over (0, 1], the quantile functions being steps at i/n and j/m. Positions are
// counted in units of 1/(n m), so the breakpoints are the integers i m and j n and compare exactly.
double w2_squared_sorted(const std::vector<double>& a, const std::vector<double>& b) {
  const int64_t n = static_cast<int64_t>(a.size()), m = static_cast<int64_t>(b.size());
  int64_t i = 0, j = 0, at = 0;
  double total = 0.0;
  while (i < n && j < m) {
    const int64_t end_a = (i + 1) * m, end_b = (j + 1) * n;  // where a_i's and b_j's steps end
    const int64_t end = std::min(end_a, end_b);
    const double diff = a[static_cast<size_t>(i)] - b[static_cast<size_t>(j)];
    total += diff * diff * static_cast<double>(end - at);
    at = end;
    if (end_a == end) ++i;
    if (end_b == end) ++j;
  }
  return total / (static_cast<double>(n) * static_cast<double>(m));
}

}  // namespace

double energy_distance(const float* x, int64_t n, const float* y, int64_t m, int64_t d) {
  const std::vector<double> xd = to_double("energy_distance", "x", x, n, d), yd = to_double("energy_distance", "y", y, m, d);
  return 2.0 * mean_cross_distance(xd, n, yd, m, d) - mean_pair_distance(xd, n, d) - mean_pair_distance(yd, m, d);
}

double sliced_wasserstein(const float* x, int64_t n, const float* y, int64_t m, int64_t d, int projections, uint64_t seed) {
  const std::vector<double> xd = to_double("sliced_wasserstein", "x", x, n, d), yd = to_double("sliced_wasserstein", "y", y, m, d);
  if (projections < 1)
    throw std::invalid_argument("sliced_wasserstein: " + std::to_string(projections) + " projections (needs >= 1)");
  // In 1-D the directions are +-1, all giving the same W2: one pass with theta = 1 is exact.
  if (d == 1) projections = 1;
  Normal normal{SplitMix64{seed}};
  std::vector<double> theta(static_cast<size_t>(d), 1.0), px(static_cast<size_t>(n)), py(static_cast<size_t>(m));
  double total = 0.0;
  for (int p = 0; p < projections; ++p) {
    // A uniform direction: a standard normal vector, normalised (redrawn in the measure-zero case of 0).
    if (d > 1) {
      double norm2 = 0.0;
      while (!(norm2 > 0.0)) {
        norm2 = 0.0;
        for (double& t : theta) {
          t = normal.next();
          norm2 += t * t;
        }
      }
      const double inv = 1.0 / std::sqrt(norm2);
      for (double& t : theta) t *= inv;
    }
    // Project, sort, transport.
    for (int64_t i = 0; i < n; ++i) {
      double s = 0.0;
      for (int64_t k = 0; k < d; ++k) s += theta[k] * xd[i * d + k];
      px[i] = s;
    }
    for (int64_t j = 0; j < m; ++j) {
      double s = 0.0;
      for (int64_t k = 0; k < d; ++k) s += theta[k] * yd[j * d + k];
      py[j] = s;
    }
    std::sort(px.begin(), px.end());
    std::sort(py.begin(), py.end());
    total += w2_squared_sorted(px, py);
  }
  return std::sqrt(total / projections);
}

namespace {
// Rows and the common row size of two sample tensors; throws when the rows differ in size.
int64_t row_size(const Tensor& x, const Tensor& y) {
  if (x.ndim() < 1 || y.ndim() < 1 || x.dim(0) < 1 || y.dim(0) < 1 || x.numel() / x.dim(0) != y.numel() / y.dim(0))
    throw std::invalid_argument("sample distance: samples " + shape_str(x.shape()) + " and " + shape_str(y.shape()) + " do not match");
  return x.numel() / x.dim(0);
}
}  // namespace

double energy_distance(const Tensor& x, const Tensor& y) {
  const int64_t d = row_size(x, y);
  return energy_distance(x.data(), x.dim(0), y.data(), y.dim(0), d);
}

double sliced_wasserstein(const Tensor& x, const Tensor& y, int projections, uint64_t seed) {
  const int64_t d = row_size(x, y);
  return sliced_wasserstein(x.data(), x.dim(0), y.data(), y.dim(0), d, projections, seed);
}

}  // namespace fm
