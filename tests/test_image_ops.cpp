// tests/test_image_ops.cpp: the U-Net's image ops against finite differences, the fast
// convolution kernels against direct loops, and their bitwise independence of the thread count.
#include <doctest/doctest.h>
#include "tensor/cpu/thread_pool.h"

#include <cmath>
#include <cstring>
#include <stdexcept>

#include "autodiff/gradcheck.h"
#include "autodiff/ops_image.h"
#include "tensor/cpu/kernels.h"
#include "tensor/cpu/conv_direct.h"
#include "tensor/cpu/conv_winograd.h"
#include "tensor/cpu/gemm_kernels.h"
#include "tensor/random.h"
#include "tests/test_util.h"

using namespace fm;
using fm::testing::expect_grads_ok;
using fm::testing::randu;

namespace {
// max |a - b| / (1 + max |b|): a relative error against the reference's scale.
double rel_err(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  double m = 0.0, scale = 0.0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    m = std::max(m, double(std::fabs(a.data()[i] - b.data()[i])));
    scale = std::max(scale, double(std::fabs(b.data()[i])));
  }
  return m / (1.0 + scale);
}
bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.numel() * sizeof(float)) == 0;
}
}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("conv2d matches finite differences (3x3 and 1x1, stride 1 and 2, pad 0 and 1, bias or not)") {
  for (int k : {3, 1})
    for (int stride : {1, 2})
      for (int pad : {0, 1})
        for (bool bias : {true, false}) {
          INFO("k " << k << " stride " << stride << " pad " << pad << " bias " << bias);
          Tensor x = randu({2, 3, 6, 5}, 1), w = randu({4, 3, k, k}, 2), b = randu({4}, 3);
          if (bias)
            expect_grads_ok([=](const std::vector<Var>& v) { return conv2d(v[0], v[1], v[2], stride, pad); }, {x, w, b});
          else
            expect_grads_ok([=](const std::vector<Var>& v) { return conv2d(v[0], v[1], Var(), stride, pad); }, {x, w});
        }
}

TEST_CASE("conv2d with a per-sample bias and a residual fused in equals the separate additions") {
  Tensor x = randu({2, 3, 6, 6}, 71), w = randu({4, 3, 3, 3}, 72), b = randu({4}, 73);
  Tensor e = randu({2, 4}, 74), r = randu({2, 4, 6, 6}, 75);
  Var fused = conv2d(Var(x), Var(w), Var(b), 1, 1, Var(e), Var(r));
  Var apart = add(add(conv2d(Var(x), Var(w), Var(b), 1, 1), reshape(Var(e), {2, 4, 1, 1})), Var(r));
  CHECK(rel_err(fused.value(), apart.value()) < 1e-6);
  GradCheckOptions opt;
  opt.eps = 3e-3;
  for (int stride : {1, 2})  // the direct/implicit path and the im2col path
    expect_grads_ok([stride](const std::vector<Var>& v) { return conv2d(v[0], v[1], v[2], stride, 1, v[3], v[4]); },
                    {x, w, b, e, randu({2, 4, stride == 1 ? 6 : 3, stride == 1 ? 6 : 3}, 76)}, opt);
  CHECK_THROWS_AS(conv2d(Var(x), Var(w), Var(b), 1, 1, Var(randu({2, 3}, 77)), Var()), std::runtime_error);
  CHECK_THROWS_AS(conv2d(Var(x), Var(w), Var(b), 1, 1, Var(), Var(randu({2, 4, 5, 5}, 78))), std::runtime_error);
}

TEST_CASE("conv2d fast kernels match the direct loops, forward and backward") {
  struct Case { int64_t B, C, H, W, O; int k, stride, pad; };
  for (Case c : {Case{2, 3, 7, 7, 5, 3, 2, 1}, Case{3, 5, 7, 9, 6, 3, 1, 1}, Case{2, 4, 8, 8, 3, 3, 2, 0},
                 Case{2, 16, 14, 14, 32, 3, 1, 1}, Case{2, 12, 9, 9, 20, 1, 1, 0}, Case{2, 6, 7, 7, 4, 1, 2, 0},
                 Case{1, 3, 11, 6, 4, 5, 2, 2}, Case{2, 3, 6, 5, 4, 5, 1, 2}, Case{2, 2, 3, 1, 3, 3, 1, 1},
                 Case{2, 3, 6, 6, 2, 3, 1, 0}, Case{2, 3, 2, 2, 2, 3, 2, 1}, Case{1, 2, 9, 40, 3, 3, 2, 1},
                 Case{1, 2, 5, 35, 3, 3, 2, 0},     // stride-2 rows longer than one 16-lane vector
                 Case{2, 16, 6, 6, 24, 1, 1, 0},    // 1x1 with AVX-512: direct forward, dx and dW
                 Case{18, 16, 5, 5, 40, 1, 1, 0}}) {  // 1x1 with AVX-512: direct forward and dx, dW by sgemm
                                                     // (B 18: two samples in some of the 16 dW partials)
    INFO("B " << c.B << " C " << c.C << " " << c.H << "x" << c.W << " O " << c.O << " k " << c.k << " s " << c.stride
              << " p " << c.pad);
    Tensor x = randu({c.B, c.C, c.H, c.W}, 11), w = randu({c.O, c.C, c.k, c.k}, 12), b = randu({c.O}, 13);
    Tensor y = conv2d_forward(x, w, b, c.stride, c.pad), yr = cpu::conv2d_reference(x, w, b, c.stride, c.pad);
    CHECK(y.dim(2) == (c.H + 2 * c.pad - c.k) / c.stride + 1);
    CHECK(rel_err(y, yr) < 1e-5);
    CHECK(rel_err(conv2d_forward(x, w, Tensor(), c.stride, c.pad), cpu::conv2d_reference(x, w, Tensor(), c.stride, c.pad)) < 1e-5);

    Tensor dy = randu(y.shape(), 14);
    Tensor dxr = Tensor::empty(x.shape()), dwr = Tensor::empty(w.shape()), dbr = Tensor::empty(b.shape());
    cpu::conv2d_backward_reference(x, w, dy, c.stride, c.pad, &dxr, &dwr, &dbr);
    Tensor dx = Tensor::full(x.shape(), NAN), dw = Tensor::full(w.shape(), NAN), db = Tensor::full(b.shape(), NAN);
    conv2d_backward(x, w, dy, c.stride, c.pad, &dx, 0.0f, &dw, 0.0f, &db, 0.0f);  // beta 0 never reads
    CHECK(rel_err(dx, dxr) < 1e-5);
    CHECK(rel_err(dw, dwr) < 1e-5);
    CHECK(rel_err(db, dbr) < 1e-5);
    // beta = 1 accumulates: a second pass doubles every gradient.
    conv2d_backward(x, w, dy, c.stride, c.pad, &dx, 1.0f, &dw, 1.0f, &db, 1.0f);
    CHECK(rel_err(scale(dx, 0.5f), dxr) < 1e-5);
    CHECK(rel_err(scale(dw, 0.5f), dwr) < 1e-5);
    CHECK(rel_err(scale(db, 0.5f), dbr) < 1e-5);
  }
}

TEST_CASE("the implicit-GEMM and direct convolutions match the direct loops with every kernel set and tile") {
  // "Same" convolutions pack their column matrices straight from the image (tensor/cpu/conv_pack.h):
  // AVX-512 masked loads when the panel width is a multiple of 16, a scalar loop otherwise
  // (the portable set's 8-wide panels). Pixel counts that are not multiples of 16, a K = P long
  // enough to be split into kc blocks that start mid-vector, and R below 16 all occur here.
  struct Case { int64_t B, C, H, W, O; int k, pad; };
  struct Restore {
    ~Restore() {
      cpu::gemm_detail::force_kernels(nullptr);
      cpu::gemm_detail::force_tile(-1);
      cpu::DirectConv::force(-1);
      cpu::WinogradConv::force(-1);
    }
  } restore;
  cpu::WinogradConv::force(0);  // these shapes test the direct kernels and the implicit GEMM
  for (const char* set : {"portable", "avx2", "avx512"}) {
    if (!cpu::gemm_detail::force_kernels(set)) continue;
    const cpu::gemm_detail::KernelSet& ks = cpu::gemm_detail::active_kernels();
    for (int tile = -1; tile < ks.ntiles; ++tile) {
      // tile -1: the direct kernels where available; 0, 1, ...: the implicit GEMM with that tile
      cpu::DirectConv::force(tile < 0 ? 1 : 0);
      if (tile < 0 && !cpu::DirectConv::available(1, 1, 9)) continue;
      cpu::gemm_detail::force_tile(std::max(tile, 0));
      // With AVX-512 the direct kernels (conv_direct.h) run these; the shapes pick each of their
      // tiles: forward 8 x 48 (O 5, 63 pixels), 8 x 32 (O 4, 784 pixels), 16 x 16 (O 16, 16
      // pixels); weight gradient 8 or 16 rows by 16, 32 or 48 channels (C 16, 32, 48), with a
      // last channel group past C (C 3, 20) and a last row tile past O (O 17, 20); a batch of 18
      // puts two samples in some of the 16 groups of dW partials (accumulation onto a partial).
      for (Case c : {Case{2, 3, 7, 9, 5, 3, 1}, Case{2, 1, 28, 28, 4, 3, 1}, Case{1, 6, 23, 23, 9, 3, 1},
                     Case{2, 2, 6, 5, 3, 5, 2}, Case{2, 3, 4, 4, 16, 3, 1}, Case{2, 16, 6, 6, 8, 3, 1},
                     Case{1, 16, 5, 5, 17, 3, 1}, Case{1, 32, 5, 5, 16, 3, 1}, Case{2, 48, 4, 4, 20, 3, 1},
                     Case{1, 20, 5, 4, 8, 3, 1}, Case{18, 3, 4, 4, 5, 3, 1}, Case{18, 16, 3, 3, 8, 3, 1},
                     Case{2, 5, 7, 9, 6, 1, 0}, Case{18, 16, 5, 5, 20, 1, 0}}) {  // 1x1: one tap, no masks
        INFO(set << (tile < 0 ? " direct" : " gemm tile ") << (tile < 0 ? 0 : ks.tiles[tile].mr) << ": B " << c.B << " C " << c.C << " "
                 << c.H << "x" << c.W << " O " << c.O << " k " << c.k);
        Tensor x = randu({c.B, c.C, c.H, c.W}, 21), w = randu({c.O, c.C, c.k, c.k}, 22), b = randu({c.O}, 23);
        Tensor y = conv2d_forward(x, w, b, 1, c.pad);
        CHECK(rel_err(y, cpu::conv2d_reference(x, w, b, 1, c.pad)) < 1e-5);
        Tensor dy = randu(y.shape(), 24);
        Tensor dxr = Tensor::empty(x.shape()), dwr = Tensor::empty(w.shape()), dbr = Tensor::empty(b.shape());
        cpu::conv2d_backward_reference(x, w, dy, 1, c.pad, &dxr, &dwr, &dbr);
        Tensor dx = Tensor::full(x.shape(), NAN), dw = Tensor::full(w.shape(), NAN), db = Tensor::full(b.shape(), NAN);
        conv2d_backward(x, w, dy, 1, c.pad, &dx, 0.0f, &dw, 0.0f, &db, 0.0f);
        CHECK(rel_err(dx, dxr) < 1e-5);
        CHECK(rel_err(dw, dwr) < 1e-5);
        CHECK(rel_err(db, dbr) < 1e-5);
      }
    }
  }
}

TEST_CASE("the Winograd convolutions match the direct loops and are bitwise thread-independent") {
  // Forward (with the bias, per-sample bias and residual fused in), dx and dW, forced on for every
  // 3x3 "same" shape: images of odd sizes (the last tile row or column half outside), 1 x 1 and
  // wider than 32 columns (two vectors of tiles per band), narrow ones (up to 16 columns: two bands
  // per vector, 8 tiles each at 16, an odd band count per sample and per block) and just wider
  // (17), C and O of 1 and not multiples of 8 or 16, batches of 1 and enough bands for several
  // blocks.
  //
  // All three are F(4x2, 3x3): 4 x 2 output tiles (tensor/cpu/conv_winograd.h).
  // Tolerance: the transforms combine up to 6 inputs (coefficients up to 5) and 6 outputs (up to
  // 8) around the products, and G4 has sixths and 24ths, so each output carries more roundings
  // than the direct sum, each of at most one ulp of a partial sum bounded by sum_{c, taps} |w x| <=
  // 9 C (entries in [-1, 1]); relative to the largest output (about 3 sqrt(C) here) the measured
  // error is below 2e-6 (it is printed; F(2x2) alone: below 1e-6), and 1e-5 leaves room while
  // catching any wrong tap, which costs O(1).
  cpu::WinogradConv::force(1);
  const int saved = fm::num_threads();
  struct Restore {
    int threads;
    ~Restore() {
      cpu::WinogradConv::force(-1);
      fm::set_num_threads(threads);
    }
  } restore{saved};
  if (!cpu::WinogradConv::suits(conv2d_shape({1, 1, 4, 4}, {1, 1, 3, 3}, Tensor(), 1, 1))) {
    MESSAGE("no AVX-512 here: the Winograd convolution is not used");
    return;
  }
  struct Case { int64_t B, C, H, W, O; };
  double worst_y = 0.0, worst_dx = 0.0, worst_dw = 0.0;
  for (Case c : {Case{1, 1, 1, 1, 1}, Case{2, 3, 7, 7, 5}, Case{1, 16, 5, 3, 17}, Case{3, 20, 28, 28, 9},
                 Case{2, 33, 14, 14, 40}, Case{1, 5, 2, 9, 3}, Case{2, 7, 3, 41, 6}, Case{4, 64, 7, 7, 64},
                 Case{40, 8, 9, 9, 8}, Case{2, 96, 14, 14, 32}, Case{3, 17, 11, 16, 12}, Case{2, 8, 5, 15, 8},
                 Case{3, 4, 6, 2, 5}, Case{2, 5, 4, 17, 3}}) {
    INFO("B " << c.B << " C " << c.C << " " << c.H << "x" << c.W << " O " << c.O);
    Tensor x = randu({c.B, c.C, c.H, c.W}, 81), w = randu({c.O, c.C, 3, 3}, 82), b = randu({c.O}, 83);
    Tensor e = randu({c.B, c.O}, 84), r = randu({c.B, c.O, c.H, c.W}, 85), dy = randu({c.B, c.O, c.H, c.W}, 86);
    Tensor yr = cpu::conv2d_reference(x, w, b, 1, 1);
    Tensor dxr = Tensor::empty(x.shape()), dwr = Tensor::empty(w.shape()), dbr = Tensor::empty(b.shape());
    cpu::conv2d_backward_reference(x, w, dy, 1, 1, &dxr, &dwr, &dbr);
    Tensor fused_r = Tensor::empty(yr.shape());
    for (int64_t i = 0; i < yr.numel(); ++i)
      fused_r.data()[i] = yr.data()[i] + e.data()[i / (c.H * c.W)] + r.data()[i];
    std::vector<Tensor> out[3];
    for (int t : {1, 2, 3}) {
      fm::set_num_threads(t);
      Tensor y = conv2d_forward(x, w, b, 1, 1), fused = conv2d_forward(x, w, b, 1, 1, {e, r});
      Tensor dx = Tensor::full(x.shape(), NAN), dw = Tensor::full(w.shape(), NAN), db = Tensor::full(b.shape(), NAN);
      Tensor dx2 = Tensor::full(x.shape(), 1.0f), dw2 = Tensor::full(w.shape(), 1.0f);
      conv2d_backward(x, w, dy, 1, 1, &dx, 0.0f, &dw, 0.0f, &db, 0.0f);  // beta 0 never reads
      conv2d_backward(x, w, dy, 1, 1, &dx2, 1.0f, nullptr, 0.0f, nullptr, 0.0f);  // 1 + dx
      conv2d_backward(x, w, dy, 1, 1, nullptr, 0.0f, &dw2, 1.0f, nullptr, 0.0f);  // 1 + dw
      out[t - 1] = {y, fused, dx, dx2, dw, dw2, db};
      if (t > 1) {
        for (size_t i = 0; i < out[0].size(); ++i) CHECK(bit_equal(out[0][i], out[t - 1][i]));
        continue;
      }
      worst_y = std::max({worst_y, rel_err(y, yr), rel_err(fused, fused_r)});
      worst_dx = std::max(worst_dx, rel_err(dx, dxr));
      worst_dw = std::max(worst_dw, rel_err(dw, dwr));
      CHECK(rel_err(y, yr) < 1e-5);
      CHECK(rel_err(fused, fused_r) < 1e-5);
      CHECK(rel_err(dx, dxr) < 1e-5);
      CHECK(rel_err(dw, dwr) < 1e-5);
      CHECK(rel_err(db, dbr) < 1e-5);
      auto plus_one = [](const Tensor& a) {
        Tensor r = Tensor::full(a.shape(), 1.0f);
        for (int64_t i = 0; i < r.numel(); ++i) r.data()[i] += a.data()[i];
        return r;
      };
      CHECK(rel_err(dx2, plus_one(dxr)) < 1e-5);
      CHECK(rel_err(dw2, plus_one(dwr)) < 1e-5);
    }
  }
  MESSAGE("Winograd max relative error against the direct loops: forward " << worst_y << ", dx " << worst_dx << ", dW "
          << worst_dw);
  // The gradients through the autodiff graph still check against finite differences.
  GradCheckOptions opt;
  opt.eps = 3e-3;
  expect_grads_ok([](const std::vector<Var>& v) { return conv2d(v[0], v[1], v[2], 1, 1); },
                  {randu({2, 3, 5, 4}, 87), randu({4, 3, 3, 3}, 88), randu({4}, 89)}, opt);
}

TEST_CASE("conv2d is bitwise identical with 1 and 2 threads, forward and backward") {
  const int saved = fm::num_threads();
  Tensor x = randu({6, 8, 12, 12}, 21), w = randu({16, 8, 3, 3}, 22), b = randu({16}, 23);
  for (int stride : {1, 2}) {
    std::vector<Tensor> out[2];
    for (int t : {1, 2}) {
      fm::set_num_threads(t);
      Var xv = Var::param(x), wv = Var::param(w), bv = Var::param(b);
      Var y = conv2d(xv, wv, bv, stride, 1);
      backward(y, randu(y.shape(), 24));
      out[t - 1] = {y.value(), xv.grad(), wv.grad(), bv.grad()};
    }
    for (size_t i = 0; i < out[0].size(); ++i) CHECK(bit_equal(out[0][i], out[1][i]));
  }
  fm::set_num_threads(saved);
}

TEST_CASE("group norm, softmax and bmm are bitwise identical with 1 and 2 threads") {
  const int saved = fm::num_threads();
  Tensor x = randu({8, 16, 10, 10}, 25), g = randu({16}, 26), b = randu({16}, 27);
  Tensor a = randu({12, 30, 20}, 28), c = randu({12, 30, 20}, 29);
  std::vector<Tensor> out[2];
  for (int t : {1, 2}) {
    fm::set_num_threads(t);
    Var xv = Var::param(x), gv = Var::param(g), bv = Var::param(b), av = Var::param(a), cv = Var::param(c);
    Var yn = group_norm(xv, 4, gv, bv);
    backward(yn, randu(yn.shape(), 30));
    Var ya = softmax(bmm(av, cv, false, true));
    backward(ya, randu(ya.shape(), 31));
    out[t - 1] = {yn.value(), xv.grad(), gv.grad(), bv.grad(), ya.value(), av.grad(), cv.grad()};
  }
  for (size_t i = 0; i < out[0].size(); ++i) CHECK(bit_equal(out[0][i], out[1][i]));
  fm::set_num_threads(saved);
}

TEST_CASE("conv2d rejects mismatched shapes") {
  Var x(randu({2, 3, 5, 5}, 31)), w(randu({4, 2, 3, 3}, 32)), b(randu({3}, 33));
  CHECK_THROWS_AS(conv2d(x, w, Var(), 1, 1), std::runtime_error);
  CHECK_THROWS_AS(conv2d(x, Var(randu({4, 3, 3, 3}, 34)), b, 1, 1), std::runtime_error);
  CHECK_THROWS_AS(conv2d(Var(randu({3, 5, 5}, 35)), w, Var(), 1, 1), std::runtime_error);
  CHECK_THROWS_AS(conv2d(x, Var(randu({4, 3, 7, 7}, 36)), Var(), 1, 0), std::runtime_error);
}

TEST_CASE("group norm normalises each group and matches finite differences") {
  Tensor x = randu({2, 4, 5, 5}, 41, -2.0f, 3.0f), g = randu({4}, 42, 0.5f, 1.5f), b = randu({4}, 43);
  // Before the affine part: per (sample, group) mean 0 and biased variance 1.
  Tensor y = group_norm(Var(x), 2, Var(), Var()).value();
  for (int64_t bg = 0; bg < 4; ++bg) {
    const float* p = y.data() + bg * 50;
    double m = 0.0, v = 0.0;
    for (int i = 0; i < 50; ++i) m += p[i];
    m /= 50;
    for (int i = 0; i < 50; ++i) v += (p[i] - m) * (p[i] - m);
    CHECK(std::fabs(m) < 1e-5);
    CHECK(v / 50 == doctest::Approx(1.0).epsilon(1e-4));
  }
  // The affine part is per channel.
  Tensor ya = group_norm(Var(x), 2, Var(g), Var(b)).value();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t c = (i / 25) % 4;
    CHECK(ya.data()[i] == doctest::Approx(y.data()[i] * g.data()[c] + b.data()[c]).epsilon(1e-5));
  }
  GradCheckOptions opt;
  opt.eps = 3e-3;
  expect_grads_ok([](const std::vector<Var>& v) { return group_norm(v[0], 2, v[1], v[2]); }, {x, g, b}, opt);
  expect_grads_ok([](const std::vector<Var>& v) { return group_norm(v[0], 4, v[1], v[2]); }, {x, g, b}, opt);
  expect_grads_ok([](const std::vector<Var>& v) { return group_norm(v[0], 1, Var(), Var()); }, {x}, opt);
  CHECK_THROWS_AS(group_norm(Var(x), 3, Var(g), Var(b)), std::runtime_error);
  CHECK_THROWS_AS(group_norm(Var(x), 2, Var(randu({3}, 44)), Var(b)), std::runtime_error);
}

TEST_CASE("fused group norm + SiLU equals SiLU after group norm and matches finite differences") {
  // With every kernel set: AVX-512 runs the hand-written loops of group_norm_x86.cpp (channels of
  // 25, 49 and 196 pixels end in a partial vector; 256 does not), the others the portable ones.
  // The unfused pair (the SiLU an elementwise op) is the reference.
  struct Restore {
    ~Restore() { cpu::gemm_detail::force_kernels(nullptr); }
  } restore;
  for (const char* set : {"portable", "avx2", "avx512"}) {
    if (!cpu::gemm_detail::force_kernels(set)) continue;
    for (int64_t hw : {5, 7, 14, 16}) {
      INFO(set << ", " << hw << " x " << hw);
      Tensor x = randu({2, 4, hw, hw}, 51, -4.0f, 5.0f), g = randu({4}, 52, 0.5f, 1.5f), b = randu({4}, 53);
      Var xv = Var::param(x), gv = Var::param(g), bv = Var::param(b);
      Var fused = group_norm_silu(xv, 2, gv, bv);
      Var apart = silu(group_norm(xv, 2, gv, bv));
      CHECK(rel_err(fused.value(), apart.value()) < 1e-6);
      // The same gradients as the two ops (dy weighted so that every element matters).
      Tensor w = randu(x.shape(), 54);
      std::vector<Tensor> gf = vjp(fused, {xv, gv, bv}, w), ga = vjp(apart, {xv, gv, bv}, w);
      for (size_t i = 0; i < 3; ++i) CHECK(rel_err(gf[i], ga[i]) < 1e-5);
    }
  }
  cpu::gemm_detail::force_kernels(nullptr);
  Tensor x = randu({2, 4, 5, 5}, 51, -2.0f, 3.0f), g = randu({4}, 52, 0.5f, 1.5f), b = randu({4}, 53);
  GradCheckOptions opt;
  opt.eps = 3e-3;
  expect_grads_ok([](const std::vector<Var>& v) { return group_norm_silu(v[0], 2, v[1], v[2]); }, {x, g, b}, opt);
  expect_grads_ok([](const std::vector<Var>& v) { return group_norm_silu(v[0], 4, Var(), v[1]); }, {x, b}, opt);
}

TEST_CASE("nearest 2x upsampling copies each pixel into a 2x2 block and sums it back") {
  Tensor x = randu({2, 3, 4, 5}, 51);
  Tensor y = upsample_nearest2x(Var(x)).value();
  REQUIRE(y.shape() == Shape{2, 3, 8, 10});
  for (int64_t p = 0; p < 6; ++p)
    for (int64_t h = 0; h < 8; ++h)
      for (int64_t w = 0; w < 10; ++w) CHECK(y.data()[(p * 8 + h) * 10 + w] == x.data()[(p * 4 + h / 2) * 5 + w / 2]);
  expect_grads_ok([](const std::vector<Var>& v) { return upsample_nearest2x(v[0]); }, {x});
  CHECK_THROWS_AS(upsample_nearest2x(Var(randu({3, 4, 5}, 52))), std::runtime_error);
}

TEST_CASE("softmax rows sum to 1, survive large inputs and match finite differences") {
  Tensor x = randu({2, 3, 7}, 61, -3.0f, 3.0f);
  Tensor y = softmax(Var(x)).value();
  for (int64_t r = 0; r < 6; ++r) {
    const float* xr = x.data() + r * 7;
    double s = 0.0, denom = 0.0;
    for (int i = 0; i < 7; ++i) denom += std::exp(double(xr[i]));
    for (int j = 0; j < 7; ++j) {
      CHECK(y.data()[r * 7 + j] == doctest::Approx(std::exp(double(xr[j])) / denom).epsilon(1e-5));
      s += y.data()[r * 7 + j];
    }
    CHECK(s == doctest::Approx(1.0).epsilon(1e-6));
  }
  Tensor big = Tensor::from({1000.0f, 1000.0f, -1000.0f, 999.0f}, {1, 4});
  Tensor yb = softmax(Var(big)).value();
  CHECK(std::isfinite(yb.data()[0]));
  CHECK(yb.data()[0] == doctest::Approx(1.0 / (2.0 + std::exp(-1.0))).epsilon(1e-5));
  CHECK(yb.data()[2] == 0.0f);
  // A long row exercises the 16-lane loops and their tails.
  expect_grads_ok([](const std::vector<Var>& v) { return softmax(v[0]); }, {x});
  expect_grads_ok([](const std::vector<Var>& v) { return softmax(v[0]); }, {randu({3, 37}, 62, -2.0f, 2.0f)});
  // The scaled softmax (attention's 1 / sqrt(C) folded in) equals softmax of the scaled input.
  Tensor ys = softmax(Var(x), 0.25f).value();
  CHECK(rel_err(ys, softmax(Var(scale(x, 0.25f))).value()) < 1e-6);
  expect_grads_ok([](const std::vector<Var>& v) { return softmax(v[0], 0.25f); }, {randu({3, 37}, 63, -2.0f, 2.0f)});
  CHECK_THROWS_AS(softmax(Var(x), 0.0f), std::runtime_error);
}

TEST_CASE("bmm and transpose_last2 match the tensor kernels and finite differences") {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      INFO("ta " << ta << " tb " << tb);
      Tensor a = ta ? randu({2, 3, 4, 5}, 71) : randu({2, 3, 5, 4}, 71);
      Tensor b = tb ? randu({2, 3, 6, 4}, 72) : randu({2, 3, 4, 6}, 72);
      Tensor c = bmm(Var(a), Var(b), ta, tb).value();
      CHECK(rel_err(c, fm::bmm(a, b, ta, tb)) < 1e-6);
      expect_grads_ok([ta, tb](const std::vector<Var>& v) { return bmm(v[0], v[1], ta, tb); }, {a, b});
    }
  // The same Var on both sides: both gradient contributions land in one buffer.
  expect_grads_ok([](const std::vector<Var>& v) { return bmm(v[0], v[0], false, true); }, {randu({3, 4, 5}, 73)});
  Tensor t = randu({2, 3, 4}, 74);
  Tensor tt = transpose_last2(Var(t)).value();
  REQUIRE(tt.shape() == Shape{2, 4, 3});
  CHECK(tt.data()[(1 * 4 + 2) * 3 + 1] == t.data()[(1 * 3 + 1) * 4 + 2]);
  expect_grads_ok([](const std::vector<Var>& v) { return transpose_last2(v[0]); }, {t});
  CHECK_THROWS_AS(bmm(Var(randu({2, 3, 4}, 75)), Var(randu({2, 5, 6}, 76))), std::runtime_error);
  CHECK_THROWS_AS(bmm(Var(randu({2, 3, 4}, 75)), Var(randu({3, 4, 6}, 76))), std::runtime_error);
}

TEST_CASE("dropout: identity in eval, expectation preserved, reproducible mask") {
  Tensor x = randu({4, 8}, 81);
  Rng rng(5);
  CHECK(bit_equal(dropout(Var(x), 0.3f, false, rng).value(), x));
  CHECK(bit_equal(dropout(Var(x), 0.0f, true, rng).value(), x));
  CHECK(rng.offset() == 0);  // the identity cases draw nothing

  Tensor ones = Tensor::full({200000}, 1.0f);
  Rng r1(7), r2(7), r3(8);
  Tensor y1 = dropout(Var(ones), 0.25f, true, r1).value();
  int64_t zeros = 0;
  for (int64_t i = 0; i < y1.numel(); ++i) {
    zeros += y1.data()[i] == 0.0f;
    if (y1.data()[i] != 0.0f) CHECK(y1.data()[i] == doctest::Approx(1.0 / 0.75));
  }
  CHECK(double(zeros) / y1.numel() == doctest::Approx(0.25).epsilon(0.02));
  CHECK(sum_all(y1) / y1.numel() == doctest::Approx(1.0).epsilon(0.01));  // E[y] = x
  CHECK(bit_equal(dropout(Var(ones), 0.25f, true, r2).value(), y1));
  CHECK_FALSE(bit_equal(dropout(Var(ones), 0.25f, true, r3).value(), y1));
  // The backward rule applies the same mask: a fixed seed inside f gives the same mask each call.
  expect_grads_ok([](const std::vector<Var>& v) { Rng r(9); return dropout(v[0], 0.5f, true, r); }, {x});
  CHECK_THROWS_AS(dropout(Var(x), 1.5f, true, rng), std::runtime_error);
}

TEST_CASE("timestep embedding matches the DDPM formula") {
  Tensor t = Tensor::from({0.0f, 0.25f, 0.999f}, {3});
  for (int dim : {8, 7}) {
    Var e = timestep_embedding(t, dim);
    REQUIRE(e.shape() == Shape{3, dim});
    CHECK_FALSE(e.requires_grad());
    const int half = dim / 2;
    for (int b = 0; b < 3; ++b) {
      for (int i = 0; i < half; ++i) {
        const double freq = std::exp(-std::log(10000.0) * i / half), arg = 1000.0 * t.data()[b] * freq;
        CHECK(e.value().data()[b * dim + i] == doctest::Approx(std::cos(arg)).epsilon(1e-5));
        CHECK(e.value().data()[b * dim + half + i] == doctest::Approx(std::sin(arg)).epsilon(1e-5));
      }
      if (dim % 2) CHECK(e.value().data()[b * dim + dim - 1] == 0.0f);
    }
  }
  Tensor e1 = timestep_embedding(Tensor::from({0.5f}, {1}), 4, 1.0f, 100.0f).value();
  CHECK(e1.data()[0] == doctest::Approx(std::cos(0.5)));
  CHECK(e1.data()[1] == doctest::Approx(std::cos(0.05)));  // freq_1 = 100^(-1/2)
  CHECK(e1.data()[3] == doctest::Approx(std::sin(0.05)));
}

}  // TEST_SUITE
