// flow/toy2d.cpp: FFJORD's 2-D toy distributions, drawn from the counter-based Rng.
//
// Every generator first draws all of its randomness as whole tensors (Rng::uniform / normal /
// integers), then maps each row with a plain serial loop. The draws depend only on (seed,
// offset), so the points are identical for any OMP thread count.
//
// Constants and scalings are FFJORD's; where FFJORD calls sklearn, the layout is sklearn's:
// make_moons / make_circles put points at evenly spaced angles (a grid, not random angles),
// shuffle them, then add Gaussian noise. FFJORD's post-scalings are folded into the constants,
// so every number below is in final data units:
//   moons = make_moons(noise=0.1) * 2 + (-1, -0.2); circles = make_circles(factor=.5, noise=.08) * 3;
//   swissroll = make_swiss_roll(noise=1)[:, (x, z)] / 5; rings: noise 0.08 added after its x3.
// Deviation: FFJORD's pinwheel and 2spirals return floor(n/5)*5 and 2 floor(n/2) points; we return
// n, with the arms as balanced as n allows, and shuffle 2spirals (FFJORD stacks its two arms).
#include "flow/toy2d.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace fm {
namespace {

constexpr double kPi = 3.14159265358979323846;

// 8gaussians: unit directions scaled by 4, noise std 0.5, then everything divided by 1.414
// (FFJORD's literal, not sqrt(2)).
constexpr double k8gScale = 4.0, k8gStd = 0.5, k8gDiv = 1.414;

void gaussian8_centre(int k, double& cx, double& cy) {
  static const double h = 1.0 / std::sqrt(2.0);
  static const double dirs[8][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}, {h, h}, {h, -h}, {-h, h}, {-h, -h}};
  cx = k8gScale * dirs[k][0] / k8gDiv;
  cy = k8gScale * dirs[k][1] / k8gDiv;
}

// log (1/8) sum_k N((x, y); mu_k, s^2 I), summed with the log-sum-exp shift.
double gaussian8_log_density(double x, double y) {
  const double s = k8gStd / k8gDiv;
  double e[8], top = -std::numeric_limits<double>::infinity();
  for (int k = 0; k < 8; ++k) {
    double cx, cy;
    gaussian8_centre(k, cx, cy);
    e[k] = -((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (2 * s * s);
    top = std::max(top, e[k]);
  }
  double sum = 0;
  for (double v : e) sum += std::exp(v - top);
  return top + std::log(sum) - std::log(8.0) - std::log(2 * kPi * s * s);
}

// The mixture's entropy has no closed form; it is just below log 8 + log(2 pi e s^2) (the
// clusters overlap a little). Midpoint rule for -int p log p on [-6, 6]^2 with h = 0.01, i.e.
// s / 35: the integrand is smooth, so the error is far below 1e-6.
double gaussian8_entropy() {
  const int n = 1200;
  const double h = 12.0 / n;
  double sum = 0;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      double lp = gaussian8_log_density(-6 + (i + 0.5) * h, -6 + (j + 0.5) * h);
      sum -= std::exp(lp) * lp;
    }
  return sum * h * h;
}

Tensor draw_uniform(int64_t n, Rng& rng) {
  Tensor t = Tensor::empty({n});
  rng.uniform(t);
  return t;
}

Tensor draw_normal(int64_t n, Rng& rng) {
  Tensor t = Tensor::empty({n});
  rng.normal(t);
  return t;
}

std::vector<int64_t> draw_integers(int64_t n, int64_t bound, Rng& rng) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  rng.integers(v.data(), n, bound);
  return v;
}

// A uniformly random permutation: sort indices by 64-bit random keys (ties, which have
// probability ~n^2/2^64, fall back to index order, so the result is still deterministic).
std::vector<int64_t> draw_permutation(int64_t n, Rng& rng) {
  std::vector<int64_t> key = draw_integers(n, std::numeric_limits<int64_t>::max(), rng);
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), int64_t(0));
  std::sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) {
    return key[a] != key[b] ? key[a] < key[b] : a < b;
  });
  return perm;
}

// Labels 0..k-1 in as-equal-as-possible counts, randomly placed: FFJORD's "repeat the class
// labels, then permute the rows", made to work for any n rather than multiples of k.
std::vector<int> draw_balanced_labels(int64_t n, int k, Rng& rng) {
  std::vector<int64_t> perm = draw_permutation(n, rng);
  std::vector<int> label(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) label[i] = static_cast<int>(perm[i] * k / n);
  return label;
}

// Python's floor-mod: the result has the sign of the divisor, so it lies in [0, m).
double py_mod(double a, double m) { return a - m * std::floor(a / m); }

// An arc of `count` points at evenly spaced angles from a0 over `span` (numpy linspace, with or
// without the endpoint), on a circle of radius r about (cx, cy).
struct Arc {
  int64_t count;
  double cx, cy, r, a0, span;
  bool endpoint;
};

// sklearn's scheme for moons/circles (and FFJORD's rings): the arcs' grid points, rows shuffled,
// plus isotropic Gaussian noise of std `noise`.
void sample_arcs(const std::vector<Arc>& arcs, double noise, int64_t n, Rng& rng, float* out) {
  std::vector<double> gx, gy;
  gx.reserve(n);
  gy.reserve(n);
  for (const Arc& a : arcs) {
    int64_t steps = a.endpoint ? std::max<int64_t>(a.count - 1, 1) : std::max<int64_t>(a.count, 1);
    for (int64_t j = 0; j < a.count; ++j) {
      double angle = a.a0 + a.span * static_cast<double>(j) / static_cast<double>(steps);
      gx.push_back(a.cx + a.r * std::cos(angle));
      gy.push_back(a.cy + a.r * std::sin(angle));
    }
  }
  std::vector<int64_t> perm = draw_permutation(n, rng);
  Tensor z = draw_normal(2 * n, rng);
  const float* zd = z.data();
  for (int64_t i = 0; i < n; ++i) {
    out[2 * i] = static_cast<float>(gx[perm[i]] + noise * zd[2 * i]);
    out[2 * i + 1] = static_cast<float>(gy[perm[i]] + noise * zd[2 * i + 1]);
  }
}

// checkerboard: 2 (x1, x2), x1 ~ U[-2,2), x2 ~ U[0,1) - 2 Bern(1/2) + (floor(x1) mod 2): 8 squares, density 1/32.
void gen_checkerboard(int64_t n, Rng& rng, float* out) {
  Tensor u1 = draw_uniform(n, rng), u2 = draw_uniform(n, rng);
  std::vector<int64_t> b = draw_integers(n, 2, rng);
  for (int64_t i = 0; i < n; ++i) {
    double x1 = u1.data()[i] * 4.0 - 2.0;
    double x2 = u2.data()[i] - 2.0 * static_cast<double>(b[i]) + py_mod(std::floor(x1), 2.0);
    out[2 * i] = static_cast<float>(2.0 * x1);
    out[2 * i + 1] = static_cast<float>(2.0 * x2);
  }
}

// 8gaussians: equal mixture of N(4 c_k / 1.414, (0.5 / 1.414)^2 I), c_k the 8 unit compass directions.
void gen_8gaussians(int64_t n, Rng& rng, float* out) {
  Tensor z = draw_normal(2 * n, rng);
  std::vector<int64_t> k = draw_integers(n, 8, rng);
  for (int64_t i = 0; i < n; ++i) {
    double cx, cy;
    gaussian8_centre(static_cast<int>(k[i]), cx, cy);
    out[2 * i] = static_cast<float>(cx + k8gStd / k8gDiv * z.data()[2 * i]);
    out[2 * i + 1] = static_cast<float>(cy + k8gStd / k8gDiv * z.data()[2 * i + 1]);
  }
}

// moons: upper/lower half circles, radius 2, about (-1, -0.2) / (1, 0.8), n/2 grid angles each, + N(0, 0.2^2 I).
void gen_moons(int64_t n, Rng& rng, float* out) {
  int64_t outer = n / 2, inner = n - outer;
  sample_arcs({{outer, -1.0, -0.2, 2.0, 0.0, kPi, true}, {inner, 1.0, 0.8, 2.0, kPi, kPi, true}}, 0.2, n,
              rng, out);
}

// circles: circles of radius 3 and 1.5 about the origin, n/2 grid angles each, + N(0, 0.24^2 I).
void gen_circles(int64_t n, Rng& rng, float* out) {
  int64_t outer = n / 2, inner = n - outer;
  sample_arcs({{outer, 0, 0, 3.0, 0, 2 * kPi, false}, {inner, 0, 0, 1.5, 0, 2 * kPi, false}}, 0.24, n, rng,
              out);
}

// rings: circles of radius 3, 2.25, 1.5, 0.75 (n/4 grid angles each, the rest on the last), + N(0, 0.08^2 I).
void gen_rings(int64_t n, Rng& rng, float* out) {
  int64_t q = n / 4, rest = n - 3 * q;
  sample_arcs({{q, 0, 0, 3.0, 0, 2 * kPi, false},
               {q, 0, 0, 2.25, 0, 2 * kPi, false},
               {q, 0, 0, 1.5, 0, 2 * kPi, false},
               {rest, 0, 0, 0.75, 0, 2 * kPi, false}},
              0.08, n, rng, out);
}

// swissroll: ((t cos t + N(0,1)) / 5, (t sin t + N(0,1)) / 5) with t ~ U[1.5 pi, 4.5 pi).
void gen_swissroll(int64_t n, Rng& rng, float* out) {
  Tensor u = draw_uniform(n, rng), z = draw_normal(2 * n, rng);
  for (int64_t i = 0; i < n; ++i) {
    double t = 1.5 * kPi * (1.0 + 2.0 * u.data()[i]);
    out[2 * i] = static_cast<float>((t * std::cos(t) + z.data()[2 * i]) / 5.0);
    out[2 * i + 1] = static_cast<float>((t * std::sin(t) + z.data()[2 * i + 1]) / 5.0);
  }
}

// 2spirals: +-p / 3 + N(0, 0.1^2 I), p = (-t cos t + U[0,.5), t sin t + U[0,.5)), t = 3 pi sqrt(U).
void gen_2spirals(int64_t n, Rng& rng, float* out) {
  Tensor ut = draw_uniform(n, rng), ux = draw_uniform(n, rng), uy = draw_uniform(n, rng);
  Tensor z = draw_normal(2 * n, rng);
  std::vector<int> arm = draw_balanced_labels(n, 2, rng);
  for (int64_t i = 0; i < n; ++i) {
    double t = std::sqrt(static_cast<double>(ut.data()[i])) * 540.0 * (2.0 * kPi) / 360.0;
    double px = -std::cos(t) * t + 0.5 * ux.data()[i], py = std::sin(t) * t + 0.5 * uy.data()[i];
    double sign = arm[i] == 0 ? 1.0 : -1.0;
    out[2 * i] = static_cast<float>(sign * px / 3.0 + 0.1 * z.data()[2 * i]);
    out[2 * i + 1] = static_cast<float>(sign * py / 3.0 + 0.1 * z.data()[2 * i + 1]);
  }
}

// pinwheel: 2 R(-a) f, f = (N(1, .3^2), N(0, .1^2)), a = 2 pi k/5 + 0.25 exp(f0), arm k of 5 equally likely.
void gen_pinwheel(int64_t n, Rng& rng, float* out) {
  Tensor z = draw_normal(2 * n, rng);
  std::vector<int> arm = draw_balanced_labels(n, 5, rng);
  for (int64_t i = 0; i < n; ++i) {
    double f0 = 1.0 + 0.3 * z.data()[2 * i], f1 = 0.1 * z.data()[2 * i + 1];
    double a = 2.0 * kPi * arm[i] / 5.0 + 0.25 * std::exp(f0);
    out[2 * i] = static_cast<float>(2.0 * (f0 * std::cos(a) + f1 * std::sin(a)));
    out[2 * i + 1] = static_cast<float>(2.0 * (-f0 * std::sin(a) + f1 * std::cos(a)));
  }
}

using Generator = void (*)(int64_t, Rng&, float*);
struct Entry {
  const char* name;
  Generator gen;
};
const Entry kDatasets[] = {
    {"checkerboard", gen_checkerboard}, {"8gaussians", gen_8gaussians}, {"moons", gen_moons},
    {"circles", gen_circles},           {"swissroll", gen_swissroll},   {"2spirals", gen_2spirals},
    {"pinwheel", gen_pinwheel},         {"rings", gen_rings},
};

std::string valid_list() {
  std::string s;
  for (const Entry& e : kDatasets) s += (s.empty() ? "" : ", ") + std::string(e.name);
  return s;
}

[[noreturn]] void unknown(const std::string& name) {
  throw std::runtime_error("unknown 2-D dataset '" + name + "' (valid: " + valid_list() + ")");
}

}  // namespace

const std::vector<std::string>& toy2d_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const Entry& e : kDatasets) v.push_back(e.name);
    return v;
  }();
  return names;
}

bool is_toy2d(const std::string& name) {
  for (const Entry& e : kDatasets)
    if (name == e.name) return true;
  return false;
}

Tensor sample_toy2d(const std::string& name, int64_t n, Rng& rng) {
  if (n < 0) throw std::runtime_error("sample_toy2d: negative sample count " + std::to_string(n));
  for (const Entry& e : kDatasets) {
    if (name != e.name) continue;
    Tensor out = Tensor::empty({n, 2});
    e.gen(n, rng, out.data());
    return out;
  }
  unknown(name);
}

bool toy2d_has_log_density(const std::string& name) { return name == "checkerboard" || name == "8gaussians"; }

double toy2d_log_density(const std::string& name, float xf, float yf) {
  double x = xf, y = yf;
  if (name == "checkerboard") {
    // Closed squares: float rounding can put a sample exactly on an outer edge (e.g. y = 4).
    // Square (i, j) = [2i - 4, 2i - 2] x [2j - 4, 2j - 2] is on the support when i + j is even.
    for (int i = 0; i < 4; ++i)
      for (int j = i % 2; j < 4; j += 2)
        if (x >= 2 * i - 4 && x <= 2 * i - 2 && y >= 2 * j - 4 && y <= 2 * j - 2) return -std::log(32.0);
    return -std::numeric_limits<double>::infinity();
  }
  if (name == "8gaussians") return gaussian8_log_density(x, y);
  if (!is_toy2d(name)) unknown(name);
  throw std::runtime_error("toy2d_log_density: no closed-form density for '" + name +
                           "' (known: checkerboard, 8gaussians)");
}

double toy2d_entropy(const std::string& name) {
  if (name == "checkerboard") return std::log(32.0);
  if (name == "8gaussians") {
    static const double h = gaussian8_entropy();  // ~30 ms, once
    return h;
  }
  if (!is_toy2d(name)) unknown(name);
  throw std::runtime_error("toy2d_entropy: no known entropy for '" + name + "' (known: checkerboard, 8gaussians)");
}

}  // namespace fm
