// tests/test_sample_distance.cpp: energy distance and sliced Wasserstein-2 (flow/sample_distance.h)
// on sets whose distance is known: exactly (point masses, shifted copies, hand-computed quantile
// transports) or in closed form for Gaussians, the latter within a tolerance of a few standard
// errors of the estimator at the sample size used (each derived where it is used). Samples come
// from std::mt19937_64 with fixed seeds, so each check is deterministic; the tolerances say why it
// passes for any seed, not only this one.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "flow/sample_distance.h"

using namespace fm;

namespace {

constexpr double kPi = 3.14159265358979323846;

// Relative tolerance only: doctest's Approx adds an absolute slack of `epsilon` by default.
doctest::Approx rel(double value, double eps) { return doctest::Approx(value).epsilon(eps).scale(0); }

// Values on the grid of 2^-16: adding a small integer to them (|sum| < 128) is exact in float.
std::vector<float> on_grid(std::vector<float> x) {
  for (float& v : x) v = std::round(v * 65536.0f) / 65536.0f;
  return x;
}

// n points of N(mean, I_d), row-major.
std::vector<float> gaussian(int64_t n, int64_t d, uint64_t seed, std::vector<double> mean = {}) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z;
  std::vector<float> out(static_cast<size_t>(n * d));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < d; ++k) out[i * d + k] = static_cast<float>(z(rng) + (mean.empty() ? 0.0 : mean[k]));
  return out;
}

// x with mu added to coordinate `axis` of every point.
std::vector<float> shifted(std::vector<float> x, int64_t d, int64_t axis, float mu) {
  for (size_t i = static_cast<size_t>(axis); i < x.size(); i += static_cast<size_t>(d)) x[i] += mu;
  return x;
}

double mean_of(const std::vector<float>& x) {
  double s = 0.0;
  for (float v : x) s += v;
  return s / static_cast<double>(x.size());
}

double Phi(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// E|N(mu, s^2)| = s sqrt(2/pi) exp(-mu^2 / (2 s^2)) + mu (1 - 2 Phi(-mu/s)).
double mean_abs_normal(double mu, double s) {
  return s * std::sqrt(2.0 / kPi) * std::exp(-mu * mu / (2.0 * s * s)) + mu * (1.0 - 2.0 * Phi(-mu / s));
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("two point masses: energy distance 2||a - b|| exactly, 1-D SW2 the gap") {
  // Within-set distances are all 0, the cross distances all ||a - b|| (here 3-4-12: 13), and the
  // U-statistic has no 1/n term: the estimate is exact for any n, m.
  const std::vector<float> a{1.0f, 2.0f, 3.0f}, b{4.0f, 6.0f, 15.0f};
  std::vector<float> x, y;
  for (int i = 0; i < 5; ++i) x.insert(x.end(), a.begin(), a.end());
  for (int i = 0; i < 7; ++i) y.insert(y.end(), b.begin(), b.end());
  CHECK(energy_distance(x.data(), 5, y.data(), 7, 3) == rel(26.0, 1e-14));
  CHECK(energy_distance(x.data(), 1, y.data(), 1, 3) == rel(26.0, 1e-14));
  // 1-D: W2 between point masses is the gap, for n != m too.
  const std::vector<float> x1(5, 2.0f), y1(7, -1.0f);
  CHECK(sliced_wasserstein(x1.data(), 5, y1.data(), 7, 1) == rel(3.0, 1e-14));
  CHECK(energy_distance(x1.data(), 5, y1.data(), 7, 1) == rel(6.0, 1e-14));
}

TEST_CASE("identical sets: SW2 is 0, the energy U-statistic -2/n times the mean pairwise distance") {
  const int64_t n = 300, d = 3;
  const std::vector<float> x = gaussian(n, d, 1);
  CHECK(sliced_wasserstein(x.data(), n, x.data(), n, d) == 0.0);
  // E_hat(X, X) = 2 S/n^2 - 2 S/(n (n-1)) = -2/n * S/(n (n-1)), S the sum over ordered pairs i != j
  // (the cross term includes the n zero distances i = j, the U-statistics do not).
  double pair_sum = 0.0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (int64_t k = 0; k < d; ++k) s += std::pow(double(x[i * d + k]) - double(x[j * d + k]), 2);
      pair_sum += std::sqrt(s);
    }
  const double mean_pair = pair_sum / double(n * (n - 1));
  const double e = energy_distance(x.data(), n, x.data(), n, d);
  CHECK(e == rel(-2.0 * mean_pair / n, 1e-9));
  CHECK(e < 0.0);
  CHECK(std::fabs(e) < 0.05);  // mean_pair ~ E||Z - Z'|| = 2 Gamma(2)/Gamma(3/2) ~ 2.26 in 3-D: |e| ~ 0.015
}

TEST_CASE("sliced Wasserstein: quantile matching for n != m, checked by hand") {
  // X = {0, 1}, Y = {0, 0.5, 1}: F^-1 = 0, 1 on (0, 1/2], (1/2, 1]; G^-1 = 0, 0.5, 1 on thirds.
  // They differ by 0.5 on (1/3, 1/2] and (1/2, 2/3]: W2^2 = 2 * 0.25 * 1/6 = 1/12.
  const std::vector<float> x{0.0f, 1.0f}, y{0.5f, 1.0f, 0.0f};  // unsorted on purpose
  CHECK(sliced_wasserstein(x.data(), 2, y.data(), 3, 1) == rel(std::sqrt(1.0 / 12.0), 1e-14));
  // A set and the same set twice are one empirical distribution: 0 in any dimension.
  const std::vector<float> z = gaussian(50, 4, 2);
  std::vector<float> zz = z;
  zz.insert(zz.end(), z.begin(), z.end());
  CHECK(sliced_wasserstein(z.data(), 50, zz.data(), 100, 4) == 0.0);
}

TEST_CASE("sliced Wasserstein of a shifted copy: |mu| in 1-D, |mu|/sqrt(d) in d dimensions") {
  // Y = X + mu e_1 exactly (points on a grid, so the float shift does not round): each projection
  // is a shift by mu theta_1, so W2^2 = mu^2 theta_1^2 and SW2^2 = mu^2 * mean_p theta_p1^2. In
  // 1-D theta = 1: SW2 = |mu| to double precision.
  const std::vector<float> x1 = on_grid(gaussian(1000, 1, 3)), y1 = shifted(x1, 1, 0, 1.5f);
  CHECK(sliced_wasserstein(x1.data(), 1000, y1.data(), 1000, 1) == rel(1.5, 1e-12));
  // In d = 4, theta_1^2 ~ Beta(1/2, (d-1)/2): mean 1/d, variance 2 (d-1) / (d^2 (d+2)) = 1/16. With
  // P = 4096 directions the mean of theta_1^2 has sd 0.25/64 = 0.0039 around 0.25, 1.6%; SW2
  // (its square root) then has relative sd 0.8%: 5 sd is 4%.
  const int64_t d = 4;
  const float mu = 2.0f;
  const std::vector<float> x = on_grid(gaussian(500, d, 4)), y = shifted(x, d, 0, mu);
  const double sw = sliced_wasserstein(x.data(), 500, y.data(), 500, d, 4096, 7);
  CHECK(sw == rel(mu / std::sqrt(double(d)), 0.04));
}

TEST_CASE("sliced Wasserstein of independent N(0,1) and N(mu,1) samples: about |mu|") {
  // 1-D, Y = Z + mu with Z an independent N(0,1) sample (on a grid: the shift is exact in float).
  // Sorting commutes with the shift, so
  //   W2^2(X, Y) = mu^2 - 2 mu (mean X - mean Z) + W2^2(X, Z)   exactly,
  // checked first, to double rounding. Then W2 - |mu| ~ -(mean X - mean Z) + W2^2(X, Z)/(2 mu): the first term has sd
  // sqrt(2/n) (0.01 at n = 20000), the second is a bias of order log log n / n (~1e-4 here).
  // Tolerance 5 sd = 0.05.
  const int64_t n = 20000;
  const double mu = 1.0;
  const std::vector<float> x = on_grid(gaussian(n, 1, 5)), z = on_grid(gaussian(n, 1, 6)), y = shifted(z, 1, 0, float(mu));
  const double w = sliced_wasserstein(x.data(), n, y.data(), n, 1), w0 = sliced_wasserstein(x.data(), n, z.data(), n, 1);
  CHECK(w * w == rel(mu * mu - 2 * mu * (mean_of(x) - mean_of(z)) + w0 * w0, 1e-10));
  CHECK(w == rel(mu, 5 * std::sqrt(2.0 / n)));
  // The same for n != m (quantile matching): sd sqrt(1/n + 1/m).
  const int64_t m = 7000;
  const std::vector<float> y2 = gaussian(m, 1, 8, {mu});
  CHECK(sliced_wasserstein(x.data(), n, y2.data(), m, 1) == rel(mu, 5 * std::sqrt(1.0 / n + 1.0 / m)));
}

TEST_CASE("energy distance of N(0,1) and N(mu,1) samples against the closed form") {
  // X - Y ~ N(-mu, 2), X - X' ~ N(0, 2): E = 2 E|N(mu, 2)| - 2 E|N(0, 2)|.
  // The estimator's error, to first order (Hoeffding projection of the three U-statistics), is
  //   (2/n) sum_i [h(x_i) - E h] + (2/m) sum_j [h(z_j) - E h],   h(z) = f(z - mu) - f(z),
  // with f(a) = E|N(a, 1)| and x_i, z_j = y_j - mu standard normal (the Y part has the same law by
  // the symmetry of f). So sd = 2 sqrt(Var h (1/n + 1/m)); Var h is computed below by quadrature
  // (~mu^2/3 for small mu, since f' = 2 Phi - 1). The remaining terms are O(1/n). Tolerance 5 sd.
  const int64_t n = 3000, m = 2500;
  for (double mu : {0.5, 1.0, 3.0}) {
    CAPTURE(mu);
    const double exact = 2.0 * mean_abs_normal(mu, std::sqrt(2.0)) - 2.0 * mean_abs_normal(0.0, std::sqrt(2.0));
    double e1 = 0.0, e2 = 0.0;  // E h, E h^2 under N(0, 1): Simpson on [-12, 12]
    const int steps = 4800;
    const double lo = -12.0, step = 24.0 / steps;
    for (int k = 0; k <= steps; ++k) {
      const double z = lo + k * step, w = (k == 0 || k == steps) ? 1.0 : (k % 2 ? 4.0 : 2.0);
      const double h = mean_abs_normal(z - mu, 1.0) - mean_abs_normal(z, 1.0);
      const double pdf = std::exp(-0.5 * z * z) / std::sqrt(2.0 * kPi);
      e1 += w * h * pdf;
      e2 += w * h * h * pdf;
    }
    e1 *= step / 3.0;
    e2 *= step / 3.0;
    const double sd = 2.0 * std::sqrt((e2 - e1 * e1) * (1.0 / n + 1.0 / m));
    const std::vector<float> x = gaussian(n, 1, 10), y = gaussian(m, 1, 11, {mu});
    const double e = energy_distance(x.data(), n, y.data(), m, 1);
    CAPTURE(sd);
    CHECK(std::fabs(e - exact) < 5.0 * sd);
  }
}

TEST_CASE("symmetric in X and Y") {
  const std::vector<float> x = gaussian(400, 3, 12), y = gaussian(250, 3, 13, {0.5, 0.0, -1.0});
  CHECK(energy_distance(x.data(), 400, y.data(), 250, 3) ==
        rel(energy_distance(y.data(), 250, x.data(), 400, 3), 1e-12));
  CHECK(sliced_wasserstein(x.data(), 400, y.data(), 250, 3, 64, 9) ==
        rel(sliced_wasserstein(y.data(), 250, x.data(), 400, 3, 64, 9), 1e-12));
}

TEST_CASE("invariant under a common translation and rotation") {
  // Points on a grid with small integers added stay exact in float: the translated sets have the
  // same differences, so energy distance is unchanged to the last bit and SW2 up to the rounding of
  // the projections (theta . c added to each).
  const int64_t n = 300, m = 200, d = 2;
  const std::vector<float> x = on_grid(gaussian(n, d, 14)), y = on_grid(gaussian(m, d, 15, {1.0, 0.5}));
  const double e = energy_distance(x.data(), n, y.data(), m, d), sw = sliced_wasserstein(x.data(), n, y.data(), m, d, 128, 3);
  std::vector<float> xt = x, yt = y;
  for (size_t i = 0; i < xt.size(); ++i) xt[i] += (i % 2 ? -3.0f : 5.0f);
  for (size_t i = 0; i < yt.size(); ++i) yt[i] += (i % 2 ? -3.0f : 5.0f);
  CHECK(energy_distance(xt.data(), n, yt.data(), m, d) == e);
  CHECK(sliced_wasserstein(xt.data(), n, yt.data(), m, d, 128, 3) == rel(sw, 1e-12));
  // A rotation by 0.7 rad: distances kept up to float rounding of the rotated points (~1e-7).
  const double c = std::cos(0.7), s = std::sin(0.7);
  auto rotate = [&](std::vector<float> p) {
    for (size_t i = 0; i < p.size(); i += 2) {
      const double a = p[i], b = p[i + 1];
      p[i] = float(c * a - s * b);
      p[i + 1] = float(s * a + c * b);
    }
    return p;
  };
  const std::vector<float> xr = rotate(x), yr = rotate(y);
  CHECK(energy_distance(xr.data(), n, yr.data(), m, d) == rel(e, 1e-5));
  // SW2 uses the same directions, which the rotation does not carry along: it is invariant only in
  // expectation over theta. Here W2^2(theta) ~ (theta . v)^2, v = (1, 0.5) the mean shift, which
  // for a uniform angle has coefficient of variation 1/sqrt2; a mean of 4096 has relative sd 1.1%,
  // the difference of two such SW2^2 at most 2.2%, and of the square roots at most 1.1%: 5% is > 4 sd.
  const double swa = sliced_wasserstein(x.data(), n, y.data(), m, d, 4096, 3),
               swr = sliced_wasserstein(xr.data(), n, yr.data(), m, d, 4096, 3);
  CHECK(swr == rel(swa, 0.05));
}

TEST_CASE("sliced Wasserstein is seeded") {
  const std::vector<float> x = gaussian(200, 5, 16), y = gaussian(300, 5, 17, {1, 0, 0, 0, 0});
  const double a = sliced_wasserstein(x.data(), 200, y.data(), 300, 5, 32, 42);
  CHECK(sliced_wasserstein(x.data(), 200, y.data(), 300, 5, 32, 42) == a);
  CHECK(sliced_wasserstein(x.data(), 200, y.data(), 300, 5, 32, 43) != a);
}

TEST_CASE("bad arguments throw std::invalid_argument") {
  const std::vector<float> x{0.0f, 1.0f, 2.0f, 3.0f};
  std::vector<float> bad = x;
  for (auto f : {energy_distance, +[](const float* a, int64_t n, const float* b, int64_t m, int64_t d) {
                   return sliced_wasserstein(a, n, b, m, d);
                 }}) {
    CHECK_THROWS_AS(f(x.data(), 0, x.data(), 2, 2), std::invalid_argument);
    CHECK_THROWS_AS(f(x.data(), 2, x.data(), 0, 2), std::invalid_argument);
    CHECK_THROWS_AS(f(x.data(), -1, x.data(), 2, 2), std::invalid_argument);
    CHECK_THROWS_AS(f(x.data(), 2, x.data(), 2, 0), std::invalid_argument);
    CHECK_THROWS_AS(f(nullptr, 2, x.data(), 2, 2), std::invalid_argument);
    CHECK_THROWS_AS(f(x.data(), 2, nullptr, 2, 2), std::invalid_argument);
    for (float v : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
      bad[3] = v;
      CHECK_THROWS_WITH_AS(f(x.data(), 2, bad.data(), 2, 2), doctest::Contains("y[1][1] is not finite"), std::invalid_argument);
      CHECK_THROWS_WITH_AS(f(bad.data(), 2, x.data(), 2, 2), doctest::Contains("x[1][1] is not finite"), std::invalid_argument);
    }
  }
  CHECK_THROWS_AS(sliced_wasserstein(x.data(), 2, x.data(), 2, 2, 0), std::invalid_argument);
}

}  // TEST_SUITE
