// tests/test_toy2d.cpp: the FFJORD 2-D datasets: shapes, determinism, and each generator's
// distribution (centres, radii, spreads, masses) checked statistically against its constants.
#include <doctest/doctest.h>
#include "tensor/cpu/thread_pool.h"

#include <cmath>
#include <complex>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "flow/toy2d.h"

using namespace fm;

namespace {

constexpr double kPi = 3.14159265358979323846;

// Relative tolerance only: doctest's Approx adds an absolute slack of `epsilon` by default, too
// loose for values well below 1.
doctest::Approx rel(double value, double eps) { return doctest::Approx(value).epsilon(eps).scale(0); }

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.numel() * sizeof(float)) == 0;
}

struct Moments {
  double mx = 0, my = 0;
};

Moments mean_of(const Tensor& t) {
  Moments m;
  int64_t n = t.dim(0);
  for (int64_t i = 0; i < n; ++i) {
    m.mx += t.data()[2 * i];
    m.my += t.data()[2 * i + 1];
  }
  m.mx /= n;
  m.my /= n;
  return m;
}

double radius(const Tensor& t, int64_t i) { return std::hypot(t.data()[2 * i], t.data()[2 * i + 1]); }

// Groups points by their nearest ring radius; returns per-ring count, mean radius, radial std.
struct Ring {
  int64_t count = 0;
  double mean = 0, sd = 0;
};
std::vector<Ring> ring_stats(const Tensor& t, const std::vector<double>& radii) {
  std::vector<Ring> out(radii.size());
  std::vector<double> ss(radii.size(), 0.0);
  for (int64_t i = 0; i < t.dim(0); ++i) {
    double r = radius(t, i);
    size_t best = 0;
    for (size_t k = 1; k < radii.size(); ++k)
      if (std::fabs(r - radii[k]) < std::fabs(r - radii[best])) best = k;
    out[best].count++;
    out[best].mean += r;
    ss[best] += r * r;
  }
  for (size_t k = 0; k < radii.size(); ++k) {
    out[k].mean /= out[k].count;
    out[k].sd = std::sqrt(ss[k] / out[k].count - out[k].mean * out[k].mean);
  }
  return out;
}

}  // namespace

TEST_CASE("toy2d: names and unknown dataset") {
  const auto& names = toy2d_names();
  CHECK(names.size() == 8);
  for (const char* n : {"checkerboard", "8gaussians", "moons", "circles", "swissroll", "2spirals", "pinwheel", "rings"})
    CHECK(is_toy2d(n));
  CHECK_FALSE(is_toy2d("mnist"));
  Rng rng(0);
  try {
    sample_toy2d("checkers", 10, rng);
    FAIL("no exception for an unknown dataset");
  } catch (const std::runtime_error& e) {
    std::string msg = e.what();
    CHECK(msg.find("checkers") != std::string::npos);
    for (const auto& n : names) CHECK(msg.find(n) != std::string::npos);
  }
  CHECK_THROWS_AS(toy2d_log_density("nope", 0, 0), std::runtime_error);
  CHECK_THROWS_AS(toy2d_log_density("moons", 0, 0), std::runtime_error);
  CHECK_THROWS_AS(toy2d_entropy("rings"), std::runtime_error);
  CHECK(toy2d_has_log_density("checkerboard"));
  CHECK(toy2d_has_log_density("8gaussians"));
  CHECK_FALSE(toy2d_has_log_density("swissroll"));
  CHECK_FALSE(toy2d_has_log_density("mnist"));  // any dataset spec may be asked about
}

TEST_CASE("toy2d: every dataset gives [n, 2], finite, seeded, thread-count independent") {
  for (const auto& name : toy2d_names()) {
    CAPTURE(name);
    for (int64_t n : {0, 1, 7, 1001}) {
      Rng rng(3);
      Tensor t = sample_toy2d(name, n, rng);
      REQUIRE(t.shape() == Shape{n, 2});
      for (int64_t i = 0; i < 2 * n; ++i) CHECK(std::isfinite(t.data()[i]));
    }
    const int64_t n = 50000;  // large enough for the Rng to fill in parallel
    Rng a(42), b(42), c(43);
    Tensor ta = sample_toy2d(name, n, a), tb = sample_toy2d(name, n, b), tc = sample_toy2d(name, n, c);
    CHECK(same_bits(ta, tb));
    CHECK_FALSE(same_bits(ta, tc));
    CHECK(a.offset() == b.offset());
    // The stream moved on: a second draw differs from the first.
    CHECK_FALSE(same_bits(ta, sample_toy2d(name, n, a)));

    int saved = fm::num_threads();
    fm::set_num_threads(1);
    Rng r1(42);
    Tensor t1 = sample_toy2d(name, n, r1);
    fm::set_num_threads(8);
    Rng r8(42);
    Tensor t8 = sample_toy2d(name, n, r8);
    fm::set_num_threads(saved);
    CHECK(same_bits(t1, ta));
    CHECK(same_bits(t8, ta));
  }
}

TEST_CASE("toy2d: checkerboard is uniform on its 8 squares") {
  const int64_t n = 80000;
  Rng rng(7);
  Tensor t = sample_toy2d("checkerboard", n, rng);
  // Square (i, j) of side 2 with lower corner (2i - 4, 2j - 4); the support is i + j even.
  std::vector<int64_t> count(16, 0);
  int64_t off_support = 0;
  for (int64_t p = 0; p < n; ++p) {
    float x = t.data()[2 * p], y = t.data()[2 * p + 1];
    off_support += toy2d_log_density("checkerboard", x, y) != -std::log(32.0);
    int i = std::min(3, std::max(0, static_cast<int>(std::floor((x + 4) / 2))));
    int j = std::min(3, std::max(0, static_cast<int>(std::floor((y + 4) / 2))));
    count[4 * i + j]++;
  }
  CHECK(off_support == 0);
  // Binomial(n, 1/8) per black square: 4-sigma bounds; chi-square with 7 dof below 30 (p ~ 1e-4).
  const double expect = n / 8.0, sigma = std::sqrt(n * (1.0 / 8) * (7.0 / 8));
  double chi2 = 0;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      CAPTURE(i);
      CAPTURE(j);
      if ((i + j) % 2) {
        CHECK(count[4 * i + j] == 0);
      } else {
        CHECK(std::fabs(count[4 * i + j] - expect) < 4 * sigma);
        chi2 += (count[4 * i + j] - expect) * (count[4 * i + j] - expect) / expect;
      }
    }
  CHECK(chi2 < 30.0);
  // Each coordinate is U[-4, 4] marginally: variance 64/12; 4-sigma bound on the mean.
  Moments m = mean_of(t);
  const double tol = 4 * std::sqrt(64.0 / 12 / n);
  CHECK(std::fabs(m.mx) < tol);
  CHECK(std::fabs(m.my) < tol);

  // Off-support points and points outside the board have density zero.
  CHECK(std::isinf(toy2d_log_density("checkerboard", -3, -1)));
  CHECK(std::isinf(toy2d_log_density("checkerboard", 1, -1)));
  CHECK(std::isinf(toy2d_log_density("checkerboard", 4.5f, 0)));
  CHECK(std::isfinite(toy2d_log_density("checkerboard", -3, -3)));
  CHECK(std::isfinite(toy2d_log_density("checkerboard", 3, 3)));
  CHECK(toy2d_entropy("checkerboard") == doctest::Approx(std::log(32.0)));
}

TEST_CASE("toy2d: checkerboard histogram log-likelihood matches log(1/32)") {
  // Plug-in density estimate on a 16x16 grid of 0.5-wide bins over [-4, 4]^2; the average log of
  // the estimate at the samples is an estimate of -entropy = log(1/32) (bias ~ bins / 2n).
  const int64_t n = 80000;
  const int B = 16;
  const double w = 8.0 / B;
  Rng rng(11);
  Tensor t = sample_toy2d("checkerboard", n, rng);
  std::vector<int64_t> hist(B * B, 0);
  std::vector<int> bin(n);
  for (int64_t p = 0; p < n; ++p) {
    int i = std::min(B - 1, std::max(0, static_cast<int>(std::floor((t.data()[2 * p] + 4) / w))));
    int j = std::min(B - 1, std::max(0, static_cast<int>(std::floor((t.data()[2 * p + 1] + 4) / w))));
    bin[p] = i * B + j;
    hist[bin[p]]++;
  }
  double ll_hist = 0, ll_true = 0;
  for (int64_t p = 0; p < n; ++p) {
    ll_hist += std::log(hist[bin[p]] / (n * w * w));
    ll_true += toy2d_log_density("checkerboard", t.data()[2 * p], t.data()[2 * p + 1]);
  }
  ll_hist /= n;
  ll_true /= n;
  CHECK(ll_hist == rel(-std::log(32.0), 0.005));
  CHECK(ll_true == rel(-std::log(32.0), 1e-6));
  // The empty bins are exactly those where the closed-form density is zero (at the bin centre).
  for (int i = 0; i < B; ++i)
    for (int j = 0; j < B; ++j) {
      bool on = std::isfinite(toy2d_log_density("checkerboard", -4 + (i + 0.5) * w, -4 + (j + 0.5) * w));
      CHECK((hist[i * B + j] > 0) == on);
    }
}

TEST_CASE("toy2d: 8gaussians has 8 clusters with FFJORD's centres and spread") {
  const int64_t n = 80000;
  const double R = 4.0 / 1.414, s = 0.5 / 1.414;  // centre radius and per-axis std
  Rng rng(5);
  Tensor t = sample_toy2d("8gaussians", n, rng);
  // The centres are the 8 compass directions at radius R (multiples of 45 degrees).
  std::vector<double> cx(8), cy(8), sx(8, 0), sy(8, 0), ss(8, 0);
  std::vector<int64_t> cnt(8, 0);
  for (int k = 0; k < 8; ++k) {
    cx[k] = R * std::cos(k * kPi / 4);
    cy[k] = R * std::sin(k * kPi / 4);
  }
  std::vector<int> which(n);
  for (int64_t p = 0; p < n; ++p) {
    double x = t.data()[2 * p], y = t.data()[2 * p + 1];
    int best = 0;
    for (int k = 1; k < 8; ++k)
      if (std::hypot(x - cx[k], y - cy[k]) < std::hypot(x - cx[best], y - cy[best])) best = k;
    which[p] = best;
    cnt[best]++;
    sx[best] += x;
    sy[best] += y;
  }
  for (int k = 0; k < 8; ++k) {
    CAPTURE(k);
    CHECK(std::fabs(cnt[k] - n / 8.0) < 4 * std::sqrt(n * (1.0 / 8) * (7.0 / 8)));
    double mx = sx[k] / cnt[k], my = sy[k] / cnt[k];
    CHECK(std::fabs(mx - cx[k]) < 4 * s / std::sqrt(cnt[k]));
    CHECK(std::fabs(my - cy[k]) < 4 * s / std::sqrt(cnt[k]));
  }
  for (int64_t p = 0; p < n; ++p) {
    double dx = t.data()[2 * p] - cx[which[p]], dy = t.data()[2 * p + 1] - cy[which[p]];
    ss[which[p]] += dx * dx + dy * dy;
  }
  for (int k = 0; k < 8; ++k) {
    CAPTURE(k);
    double sd = std::sqrt(ss[k] / (2.0 * cnt[k]));  // per-axis std about the true centre
    CHECK(sd == rel(s, 0.03));
  }
  // The density and entropy: E[-log p] over samples is the entropy, within 4 standard errors.
  // The clusters barely overlap, so it is just below log 8 plus one Gaussian's entropy.
  double sum = 0, sum2 = 0;
  for (int64_t p = 0; p < n; ++p) {
    double v = -toy2d_log_density("8gaussians", t.data()[2 * p], t.data()[2 * p + 1]);
    sum += v;
    sum2 += v * v;
  }
  const double nll = sum / n, se = std::sqrt((sum2 / n - nll * nll) / n);
  const double H = toy2d_entropy("8gaussians"), bound = std::log(2 * kPi * std::exp(1.0) * s * s) + std::log(8.0);
  CHECK(std::fabs(nll - H) < 4 * se);
  CHECK(H < bound);
  CHECK(H > bound - 0.01);
  // It integrates to 1 (midpoint rule on [-5, 5]^2).
  const int G = 500;
  const double h = 10.0 / G;
  double mass = 0;
  for (int i = 0; i < G; ++i)
    for (int j = 0; j < G; ++j)
      mass += std::exp(toy2d_log_density("8gaussians", float(-5 + (i + 0.5) * h), float(-5 + (j + 0.5) * h)));
  CHECK(mass * h * h == rel(1.0, 1e-3));
}

TEST_CASE("toy2d: circles are two rings of radius 3 and 1.5 (ratio 0.5)") {
  const int64_t n = 20000;
  Rng rng(9);
  Tensor t = sample_toy2d("circles", n, rng);
  auto rings = ring_stats(t, {3.0, 1.5});
  // Noise std 0.08 * 3 = 0.24; E|p| = r + s^2 / (2r) to second order.
  CHECK(std::llabs(rings[0].count - n / 2) < n / 100);
  CHECK(std::llabs(rings[1].count - n / 2) < n / 100);
  CHECK(rings[0].mean == rel(3.0 + 0.0576 / 6, 0.005));
  CHECK(rings[1].mean == rel(1.5 + 0.0576 / 3, 0.01));
  CHECK(rings[1].mean / rings[0].mean == rel(0.5, 0.03));
  CHECK(rings[0].sd == rel(0.24, 0.08));
  Moments m = mean_of(t);  // the grid of angles is balanced: only the noise moves the mean
  CHECK(std::fabs(m.mx) < 0.01);
  CHECK(std::fabs(m.my) < 0.01);
}

TEST_CASE("toy2d: rings are four rings of radius 3, 2.25, 1.5, 0.75") {
  const int64_t n = 20000;
  Rng rng(10);
  Tensor t = sample_toy2d("rings", n, rng);
  const std::vector<double> radii = {3.0, 2.25, 1.5, 0.75};
  auto rings = ring_stats(t, radii);
  for (size_t k = 0; k < 4; ++k) {
    CAPTURE(k);
    CHECK(std::llabs(rings[k].count - n / 4) <= 2);  // rings are 9 noise-sigmas apart
    CHECK(rings[k].mean == rel(radii[k], 0.01));
    CHECK(rings[k].sd == rel(0.08, 0.08));
  }
}

TEST_CASE("toy2d: moons are two half circles of radius 2 about (-1, -0.2) and (1, 0.8)") {
  const int64_t n = 20000;
  Rng rng(12);
  Tensor t = sample_toy2d("moons", n, rng);
  // Distance from p to the upper half circle about (-1, -0.2) and the lower one about (1, 0.8).
  auto arc_dist = [](double x, double y, double cx, double cy, double up) {
    double dx = x - cx, dy = y - cy;
    if (up * dy >= 0) return std::fabs(std::hypot(dx, dy) - 2.0);
    return std::min(std::hypot(dx - 2, dy), std::hypot(dx + 2, dy));  // nearest end point
  };
  int64_t n_up = 0;
  double ss = 0;
  for (int64_t p = 0; p < n; ++p) {
    double x = t.data()[2 * p], y = t.data()[2 * p + 1];
    double d1 = arc_dist(x, y, -1.0, -0.2, +1), d2 = arc_dist(x, y, 1.0, 0.8, -1);
    n_up += d1 < d2;
    ss += std::min(d1, d2) * std::min(d1, d2);
  }
  CHECK(std::llabs(n_up - n / 2) < n / 50);
  // Noise std 0.1 * 2 = 0.2 in each axis: the distance to the curve has RMS ~0.2 (a bit less,
  // because we take the nearer of two arcs).
  double rms = std::sqrt(ss / n);
  CHECK(rms > 0.17);
  CHECK(rms < 0.21);
  // The grid means are (-1, -0.2 + 4/pi) and (1, 0.8 - 4/pi): together (0, 0.3).
  Moments m = mean_of(t);
  CHECK(std::fabs(m.mx) < 0.01);
  CHECK(std::fabs(m.my - 0.3) < 0.01);
}

TEST_CASE("toy2d: swissroll, 2spirals and pinwheel match their generators' moments") {
  const int64_t n = 40000;
  {
    // swissroll: E[t cos t] = 2 and E[t sin t] = 2 / (3 pi) for t ~ U[1.5 pi, 4.5 pi); divided by 5.
    Rng rng(13);
    Tensor t = sample_toy2d("swissroll", n, rng);
    Moments m = mean_of(t);
    CHECK(std::fabs(m.mx - 0.4) < 0.03);  // 4 sigma: each coordinate has variance ~2
    CHECK(std::fabs(m.my - 2.0 / (3 * kPi) / 5) < 0.03);
    int64_t inside = 0;  // 5 |p| is t plus unit noise
    for (int64_t p = 0; p < n; ++p) inside += 5 * radius(t, p) > 1.5 * kPi - 3 && 5 * radius(t, p) < 4.5 * kPi + 3;
    CHECK(inside > n * 0.99);
  }
  {
    // 2spirals: point-symmetric halves; arm length 3 pi / 3 = pi plus offsets and noise.
    Rng rng(14);
    Tensor t = sample_toy2d("2spirals", n, rng);
    Moments m = mean_of(t);
    CHECK(std::fabs(m.mx) < 0.05);
    CHECK(std::fabs(m.my) < 0.05);
    // Mean radius ~ E[t] / 3 = 2 pi / 3 (t = 3 pi sqrt(U)), up to the offsets' small bias.
    // Arm + has angle pi - t at radius t / 3, arm - is its negation, so 2 (angle + 3 |p|) is ~0
    // mod 2 pi: its circular mean is concentrated (blurred by the U[0, .5) offsets and noise).
    double mr = 0;
    std::complex<double> phase = 0;
    for (int64_t p = 0; p < n; ++p) {
      mr += radius(t, p);
      phase += std::polar(1.0, 2 * (std::atan2(t.data()[2 * p + 1], t.data()[2 * p]) + 3 * radius(t, p)));
    }
    mr /= n;
    phase /= double(n);
    CHECK(mr == rel(2 * kPi / 3, 0.03));
    CHECK(std::abs(phase) > 0.6);
    CHECK(std::fabs(std::arg(phase)) < 0.4);
  }
  {
    // pinwheel: |p| = 2 |(f0, f1)| with f0 ~ N(1, 0.09), f1 ~ N(0, 0.01): mean radius ~2.01.
    Rng rng(15);
    Tensor t = sample_toy2d("pinwheel", n, rng);
    // A point of arm k has angle -(2 pi k / 5 + 0.25 exp(f0)) + atan(f1 / f0), f0 ~ |p| / 2, so
    // 5 (angle + 0.25 exp(|p| / 2)) is ~0 mod 2 pi: circular mean ~exp(-25 * 0.01 / 2) = 0.88.
    double mr = 0;
    std::complex<double> phase = 0;
    for (int64_t p = 0; p < n; ++p) {
      double r = radius(t, p);
      mr += r;
      phase += std::polar(1.0, 5 * (std::atan2(t.data()[2 * p + 1], t.data()[2 * p]) + 0.25 * std::exp(r / 2)));
    }
    mr /= n;
    phase /= double(n);
    CHECK(mr == rel(2.01, 0.02));
    CHECK(std::abs(phase) > 0.8);
    CHECK(std::fabs(std::arg(phase)) < 0.1);
    Moments m = mean_of(t);  // 5 balanced arms: 5-fold symmetric
    CHECK(std::fabs(m.mx) < 0.05);
    CHECK(std::fabs(m.my) < 0.05);
  }
}
