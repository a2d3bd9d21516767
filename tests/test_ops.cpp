// tests/test_ops.cpp: the device seam and the op list's ops that the layers above use through it
// (layout, linear algebra with beta, the training updates, the ODE and likelihood kernels), each
// against a loop written here.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "cuda/device.h"
#include "tensor/ops.h"
#include "tensor/profile.h"
#include "tensor/random.h"
#include "test_util.h"

using namespace fm;
using fm::testing::error_of;

namespace {
Tensor rnd(const Shape& s, uint64_t seed, float lo = -2.0f, float hi = 2.0f) {
  Tensor t = Tensor::empty(s);
  Rng(seed).uniform(t, lo, hi);
  return t;
}
double max_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.numel() == b.numel());
  double m = 0.0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::fabs(double(a.at(i)) - b.at(i)));
  return m;
}
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
}  // namespace

TEST_CASE("devices: names, host copies, element access") {
  CHECK(parse_device("cpu") == Device::CPU);
  CHECK(parse_device("cuda") == Device::CUDA);
  CHECK(std::string(device_name(Device::CUDA)) == "cuda");
  CHECK(contains(error_of([] { parse_device("tpu"); }), "unknown device 'tpu'"));

  Tensor x = rnd({3, 4}, 1);
  CHECK(x.device() == Device::CPU);
  CHECK(x.to(Device::CPU).shares_storage(x));  // already there: no copy
  std::vector<float> v = x.to_vector();
  REQUIRE(v.size() == 12);
  for (int64_t i = 0; i < 12; ++i) CHECK(v[i] == x.data()[i]);
  x.set_at(5, 7.5f);
  CHECK(x.at(5) == 7.5f);
  CHECK(x.data()[5] == 7.5f);
  CHECK(contains(error_of([&] { x.at(12); }), "out of range"));
  CHECK(Tensor::full({2}, 3.0f, Device::CPU).at(1) == 3.0f);
}

TEST_CASE("devices: a CUDA tensor without a usable GPU is refused in one line") {
  if (cuda::available()) {
    // A GPU is here: memory round-trips, host pointers are refused, and ops without a kernel say so.
    Tensor x = rnd({5, 3}, 2);
    Tensor g = x.to(Device::CUDA);
    CHECK(g.device() == Device::CUDA);
    CHECK(max_diff(g.to(Device::CPU), x) == 0.0);
    CHECK(contains(error_of([&] { g.data(); }), "cuda memory"));
    CHECK(contains(error_of([&] { add(x, g); }), "different devices (cpu and cuda)"));
    return;
  }
  const std::string msg = error_of([] { Tensor::empty({4}, Device::CUDA); });
  CHECK((contains(msg, "built without CUDA support") || contains(msg, "no CUDA device found")));
  CHECK(msg.find('\n') == std::string::npos);
  CHECK(contains(error_of([] { Tensor::zeros({2, 2}).to(Device::CUDA); }), "CUDA"));
}

TEST_CASE("ops: slice_fill_, transpose_last2, sum_trailing, add_scalar") {
  Tensor x = rnd({2, 5, 3}, 3);
  Tensor f = x.clone();
  slice_fill_(f, 1, 1, 3, 9.0f);
  for (int64_t a = 0; a < 2; ++a)
    for (int64_t b = 0; b < 5; ++b)
      for (int64_t c = 0; c < 3; ++c) {
        const int64_t i = (a * 5 + b) * 3 + c;
        CHECK(f.at(i) == (b >= 1 && b < 3 ? 9.0f : x.at(i)));
      }
  Tensor t = transpose_last2(x);
  REQUIRE(t.shape() == Shape{2, 3, 5});
  for (int64_t a = 0; a < 2; ++a)
    for (int64_t b = 0; b < 5; ++b)
      for (int64_t c = 0; c < 3; ++c) CHECK(t.at((a * 3 + c) * 5 + b) == x.at((a * 5 + b) * 3 + c));
  Tensor acc = Tensor::full({2, 3, 5}, 1.0f);
  transpose_last2_into(x, 1.0f, acc);  // beta 1 adds
  for (int64_t i = 0; i < acc.numel(); ++i) CHECK(acc.at(i) == t.at(i) + 1.0f);

  Tensor s = sum_trailing(x, 2);
  REQUIRE(s.shape() == Shape{2, 5});
  for (int64_t r = 0; r < 10; ++r) CHECK(s.at(r) == doctest::Approx(x.at(3 * r) + x.at(3 * r + 1) + x.at(3 * r + 2)));
  Tensor p = add_scalar(x, -1.5f);
  for (int64_t i = 0; i < x.numel(); ++i) CHECK(p.at(i) == x.at(i) - 1.5f);
}

TEST_CASE("ops: matmul_into and bmm_into accumulate with beta 1; linear starts from the bias") {
  Tensor a = rnd({4, 3}, 4), b = rnd({3, 5}, 5);
  Tensor c = Tensor::full({4, 5}, 0.5f);
  matmul_into(a, b, false, false, 1.0f, c);
  Tensor ref = matmul(a, b);
  for (int64_t i = 0; i < c.numel(); ++i) CHECK(c.at(i) == doctest::Approx(ref.at(i) + 0.5f));
  CHECK(contains(error_of([&] { Tensor bad = Tensor::empty({5, 4}); matmul_into(a, b, false, false, 0.0f, bad); }), "got [5, 4], expected [4, 5]"));

  Tensor ba = rnd({2, 4, 3}, 6), bb = rnd({2, 5, 3}, 7);  // a @ b^T per batch entry
  Tensor bc = Tensor::full({2, 4, 5}, -1.0f);
  bmm_into(ba, bb, false, true, 1.0f, bc);
  for (int64_t e = 0; e < 2; ++e)
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t j = 0; j < 5; ++j) {
        double s = -1.0;
        for (int64_t k = 0; k < 3; ++k) s += double(ba.at((e * 4 + i) * 3 + k)) * bb.at((e * 5 + j) * 3 + k);
        CHECK(bc.at((e * 4 + i) * 5 + j) == doctest::Approx(s).epsilon(1e-5));
      }

  Tensor x = rnd({6, 3}, 8), W = rnd({2, 3}, 9), bias = rnd({2}, 10);
  Tensor y = linear(x, W, bias);
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t o = 0; o < 2; ++o) {
      double s = bias.at(o);
      for (int64_t k = 0; k < 3; ++k) s += double(x.at(i * 3 + k)) * W.at(o * 3 + k);
      CHECK(y.at(i * 2 + o) == doctest::Approx(s).epsilon(1e-5));
    }
  CHECK(contains(error_of([&] { linear(x, rnd({2, 4}, 1), Tensor()); }), "linear: input [6, 3] does not match weight [2, 4]"));
}

TEST_CASE("ops: fm bench's flop count is 2 flops per multiply-add of the direct algorithm") {
  auto flops_of = [](const auto& fn) {
    const double before = profile::flops();
    fn();
    return profile::flops() - before;
  };
  Tensor a = rnd({4, 3}, 1), b = rnd({5, 3}, 2), c = Tensor::empty({4, 5});
  CHECK(flops_of([&] { matmul(a, b, false, true); }) == 2.0 * 4 * 5 * 3);
  CHECK(flops_of([&] { matmul_into(a, b, false, true, 0.0f, c); }) == 2.0 * 4 * 5 * 3);
  CHECK(flops_of([&] { bmm(rnd({3, 4, 2}, 3), rnd({3, 2, 6}, 4), false, false); }) == 2.0 * 3 * 4 * 6 * 2);
  CHECK(flops_of([&] { linear(rnd({7, 3}, 5), rnd({2, 3}, 6), Tensor()); }) == 2.0 * 7 * 2 * 3);
  // A 3 x 3 convolution, stride 2, pad 1: 9 x 9 -> 5 x 5; 2 images, 3 -> 4 channels.
  Tensor x = rnd({2, 3, 9, 9}, 7), w = rnd({4, 3, 3, 3}, 8), dy = rnd({2, 4, 5, 5}, 9);
  const double pass = 2.0 * 2 * 4 * 25 * (3 * 9);
  CHECK(flops_of([&] { conv2d_forward(x, w, Tensor(), 2, 1); }) == pass);
  Tensor dx = Tensor::empty(x.shape()), dw = Tensor::empty(w.shape());
  CHECK(flops_of([&] { conv2d_backward(x, w, dy, 2, 1, &dx, 0.0f, &dw, 0.0f, nullptr, 0.0f); }) == 2 * pass);
  CHECK(flops_of([&] { conv2d_backward(x, w, dy, 2, 1, nullptr, 0.0f, &dw, 0.0f, nullptr, 0.0f); }) == pass);
}

TEST_CASE("ops: the Adam and EMA updates, dropout mask and path mix follow their formulas") {
  Tensor p = rnd({7}, 11), g = rnd({7}, 12), m = rnd({7}, 13, 0.0f, 1.0f), v = rnd({7}, 14, 0.0f, 1.0f);
  Tensor p0 = p.clone(), m0 = m.clone(), v0 = v.clone();
  AdamStep s{0.9f, 0.999f, 1e-8f, 0.01f, 1.2f, 0.1f, 0.98f};
  adam_update_(p, g, m, v, s);
  for (int64_t i = 0; i < 7; ++i) {
    float gi = g.at(i) + 0.1f * p0.at(i), pi = p0.at(i) * 0.98f;
    float mi = 0.9f * m0.at(i) + 0.1f * gi, vi = 0.999f * v0.at(i) + (1.0f - 0.999f) * gi * gi;
    CHECK(m.at(i) == doctest::Approx(mi));
    CHECK(v.at(i) == doctest::Approx(vi));
    CHECK(p.at(i) == doctest::Approx(pi - 0.01f * mi / (std::sqrt(vi) * 1.2f + 1e-8f)));
  }
  Tensor sh = p0.clone();
  ema_update_(sh, g, 0.75f);
  for (int64_t i = 0; i < 7; ++i) CHECK(sh.at(i) == doctest::Approx(0.75f * p0.at(i) + 0.25f * g.at(i)));

  Tensor u = rnd({1000}, 15, 0.0f, 1.0f), keep = u.clone();
  dropout_mask_(u, 0.3f);
  for (int64_t i = 0; i < 1000; ++i) CHECK(u.at(i) == (keep.at(i) >= 0.3f ? 1.0f / 0.7f : 0.0f));

  Tensor x0 = rnd({3, 4}, 16), x1 = rnd({3, 4}, 17), coef = rnd({3, 4}, 18);
  Tensor xt = Tensor::empty({3, 4}), ut = Tensor::empty({3, 4});
  path_mix_(x0, x1, coef, xt, ut);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 4; ++j) {
      const int64_t e = i * 4 + j;
      CHECK(xt.at(e) == coef.at(4 * i) * x0.at(e) + coef.at(4 * i + 1) * x1.at(e));
      CHECK(ut.at(e) == coef.at(4 * i + 2) * x0.at(e) + coef.at(4 * i + 3) * x1.at(e));
    }
  // Shapes that do not fit are refused, naming them, before any backend runs.
  CHECK(contains(error_of([&] { path_mix_(x0, x1, rnd({2, 4}, 19), xt, ut); }), "path_mix_: x0 [3, 4]"));
  CHECK(contains(error_of([&] { path_mix_(x0, rnd({4, 3}, 20), coef, xt, ut); }), "need one shape"));
}

TEST_CASE("ops: Runge-Kutta combinations, mixed norms and the divergence's row dots") {
  Tensor y0 = rnd({10}, 19), k0 = rnd({10}, 20), k1 = rnd({10}, 21);
  const Tensor* ks[2] = {&k0, &k1};
  const double w[2] = {0.25, -0.5};
  Tensor out = Tensor::empty({10});
  rk_combine_(out, y0, 0.1, w, ks);
  for (int64_t i = 0; i < 10; ++i)
    CHECK(out.at(i) == float(double(y0.at(i)) + 0.1 * 0.25 * k0.at(i) + 0.1 * -0.5 * k1.at(i)));

  // Two parts of sizes 6 and 4: the max of their RMS.
  const int64_t parts[2] = {6, 4};
  auto rms = [&](auto value, int64_t lo, int64_t hi) {
    double s = 0.0;
    for (int64_t i = lo; i < hi; ++i) s += value(i) * value(i);
    return std::sqrt(s / double(hi - lo));
  };
  auto err = [&](int64_t i) {
    return 0.1 * (0.25 * k0.at(i) - 0.5 * k1.at(i)) / (1e-3 + 1e-2 * std::max(std::fabs(y0.at(i)), std::fabs(out.at(i))));
  };
  CHECK(rk_error_ratio(y0, out, ks, 0.1, w, 1e-3, 1e-2, parts) == doctest::Approx(std::max(rms(err, 0, 6), rms(err, 6, 10))));
  auto scaled = [&](int64_t i) { return (double(k0.at(i)) - k1.at(i)) / (1e-3 + 1e-2 * std::fabs(y0.at(i))); };
  CHECK(scaled_norm(k0, &k1, y0, 1e-3, 1e-2, parts) == doctest::Approx(std::max(rms(scaled, 0, 6), rms(scaled, 6, 10))));
  CHECK(contains(error_of([&] { scaled_norm(k0, nullptr, y0, 1e-3, 1e-2, std::vector<int64_t>{5}); }), "parts sum to 5"));

  const Tensor* both[2] = {&k0, &y0};
  CHECK(sum_squares(both) == doctest::Approx(dot(k0, k0) + dot(y0, y0)));
  CHECK(first_nonfinite(ks) == -1);
  k1.set_at(3, NAN);
  CHECK(first_nonfinite(ks) == 1);
  CHECK(std::isnan(rk_error_ratio(y0, out, ks, 0.1, w, 1e-3, 1e-2, parts)));

  Tensor a = rnd({3, 4}, 22), c = rnd({3, 4}, 23), acc = Tensor::full({3}, 1.0f);
  row_dot_add_(acc, a, c, 0.5f);
  add_column_(acc, a, 2);
  std::vector<double> sq = row_sum_squares(a);
  for (int64_t b = 0; b < 3; ++b) {
    double dot = 0.0, ss = 0.0;
    for (int64_t j = 0; j < 4; ++j) dot += double(a.at(b * 4 + j)) * c.at(b * 4 + j), ss += double(a.at(b * 4 + j)) * a.at(b * 4 + j);
    CHECK(acc.at(b) == doctest::Approx(1.0 + 0.5 * dot + a.at(b * 4 + 2)));
    CHECK(sq[b] == doctest::Approx(ss));
  }
  CHECK(contains(error_of([&] { add_column_(acc, a, 4); }), "column 4 out of range"));
}
