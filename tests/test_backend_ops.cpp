// tests/test_backend_ops.cpp: every op of the op list on every backend, against the CPU (in the
// style of ggml's test-backend-ops). Each case builds its inputs from a seed on the host, runs
// the op (and, for differentiable ops, its backward rule through autodiff) once on the CPU and
// once on the GPU, and compares every output two ways:
//     nmse    = sum (gpu - cpu)^2 / sum cpu^2              (a wrong index gives ~1)
//     max_err = max |gpu - cpu| / rms(cpu)                 (one wrong element among many)
// Tolerances: nmse 1e-10, max_err 1e-5 for elementwise and layout ops (both devices evaluate the
// same float expression, tensor/activation.h: they agree to a few ulps or exactly); nmse 1e-8,
// max_err 3e-5 for matmul, convolution and reductions (the summation order differs; fp32 sums of
// ~1e3 terms carry ~1e-7 relative error). NaN must be NaN on both. Each case is checked on its
// own: one that throws or fails does not hide the others. The cases include inputs large enough
// for a second pass of the grid-stride loops, views at an offset, the accumulating (beta = 1) and
// overwriting (beta = 0 over NaN) forms of the backward ops, and empty batches. The table must
// name every op of tensor/ops.h: tests/test_layers.cpp checks.
//
// Suite 'gpu'. Without a usable CUDA device it prints why and exits 77, which Meson reports as
// skipped.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "autodiff/ops.h"
#include "autodiff/ops_image.h"
#include "cuda/device.h"
#include "tensor/ops.h"
#include "tensor/random.h"
#include "tests/gpu_main.h"

using namespace fm;

namespace {

Tensor input(const Shape& s, uint64_t seed, Device d, float lo = -1.0f, float hi = 1.0f) {
  Tensor t = Tensor::empty(s);
  Rng(seed).uniform(t, lo, hi);
  return t.to(d);
}

struct Agreement {
  bool same_shape = true, same_nans = true;
  double nmse = 0.0, max_err = 0.0;
};

Agreement compare(const Tensor& gpu, const Tensor& cpu) {
  Agreement a;
  if (gpu.shape() != cpu.shape()) return a.same_shape = false, a;
  const std::vector<float> g = gpu.to_vector(), c = cpu.to_vector();
  double num = 0.0, den = 0.0, worst = 0.0;
  for (size_t i = 0; i < c.size(); ++i) {
    if (std::isnan(c[i]) != std::isnan(g[i])) a.same_nans = false;
    if (std::isnan(c[i]) || std::isnan(g[i])) continue;
    const double d = double(g[i]) - c[i];
    num += d * d;
    den += double(c[i]) * c[i];
    worst = std::max(worst, std::fabs(d));
  }
  a.nmse = den > 0.0 ? num / den : num;
  const double rms = c.empty() ? 0.0 : std::sqrt(den / double(c.size()));
  a.max_err = rms > 0.0 ? worst / rms : worst;
  return a;
}

// The outputs of a case (values, gradients, host scalars as 1-element tensors), moved to the host.
using Outputs = std::vector<Tensor>;
Tensor host_scalar(double v) { return Tensor::full({1}, float(v)); }

// A differentiable op: y = f(inputs); the outputs are y and the gradient of sum(w * y) for each
// input (w fixed), so the backward rule runs with a non-trivial cotangent.
Outputs forward_backward(const std::function<Var(std::vector<Var>&)>& f, const std::vector<Shape>& shapes, Device d,
                         uint64_t seed) {
  std::vector<Var> xs;
  for (size_t i = 0; i < shapes.size(); ++i) xs.push_back(Var::param(input(shapes[i], seed + i, d)));
  Var y = f(xs);
  backward(y, input(y.shape(), seed + 100, d));
  Outputs out{y.value().to(Device::CPU)};
  for (Var& x : xs) out.push_back(x.grad().defined() ? x.grad().to(Device::CPU) : Tensor::zeros(x.shape()));
  return out;
}

struct OpCase {
  std::string op;  // the op list's name (tensor/ops.h); several cases may test one op
  double tol;      // nmse; max_err's bound follows from it
  std::function<Outputs(Device)> run;
};

constexpr double kExact = 1e-10, kSum = 1e-8;
double max_err_bound(double tol) { return tol == kExact ? 1e-5 : 3e-5; }

// A tensor of the shape filled with NaN: an output that the op must overwrite (beta = 0).
Tensor nans(const Shape& s, Device d) { return Tensor::full(s, NAN, d); }
std::vector<Tensor> to_host(std::initializer_list<Tensor> ts) {
  std::vector<Tensor> out;
  for (const Tensor& t : ts) out.push_back(t.to(Device::CPU));
  return out;
}

std::vector<OpCase> cases() {
  std::vector<OpCase> c;
  // ---- elementwise (odd sizes on purpose: tails of the grid-stride loops) ----------------------
  for (UnaryOp op : {UnaryOp::Neg, UnaryOp::Exp, UnaryOp::Log, UnaryOp::Sqrt, UnaryOp::Square, UnaryOp::Tanh,
                     UnaryOp::Sigmoid, UnaryOp::Silu, UnaryOp::Abs})
    c.push_back({"unary", kExact, [op](Device d) {
                   Tensor x = input({37, 5}, 1, d, 0.1f, 2.0f);  // positive: log and sqrt are defined
                   Tensor y = unary(op, x), g = input({37, 5}, 2, d);
                   return Outputs{y.to(Device::CPU), unary_backward(op, x, y, g).to(Device::CPU)};
                 }});
  c.push_back({"unary_backward", kExact, [](Device d) {
                 Tensor x = input({1001}, 3, d), y = unary(UnaryOp::Silu, x);
                 return Outputs{unary_backward(UnaryOp::Silu, x, y, input({1001}, 4, d)).to(Device::CPU)};
               }});
  for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div})
    for (auto [sa, sb] : {std::pair<Shape, Shape>{{7, 3}, {7, 3}}, {{4, 1, 5}, {3, 1}}, {{2, 3, 4}, {}}, {{5}, {6, 1}}})
      c.push_back({"binary", kExact, [op, sa, sb](Device d) {
                     return Outputs{binary(op, input(sa, 5, d), input(sb, 6, d, 0.5f, 1.5f)).to(Device::CPU)};
                   }});
  c.push_back({"scale", kExact, [](Device d) { return Outputs{scale(input({333}, 7, d), -2.5f).to(Device::CPU)}; }});
  c.push_back({"scale_", kExact, [](Device d) { Tensor x = input({333}, 8, d); scale_(x, 0.3f); return Outputs{x.to(Device::CPU)}; }});
  c.push_back({"add_", kExact, [](Device d) { Tensor y = input({65}, 9, d); add_(y, input({65}, 10, d)); return Outputs{y.to(Device::CPU)}; }});
  c.push_back({"axpy_", kExact, [](Device d) { Tensor y = input({65}, 11, d); axpy_(0.7f, input({65}, 12, d), y); return Outputs{y.to(Device::CPU)}; }});
  c.push_back({"add_scalar", kExact, [](Device d) { return Outputs{add_scalar(input({3, 9}, 13, d), 4.0f).to(Device::CPU)}; }});
  c.push_back({"dropout_mask_", kExact, [](Device d) { Tensor u = input({999}, 14, d, 0.0f, 1.0f); dropout_mask_(u, 0.25f); return Outputs{u.to(Device::CPU)}; }});
  c.push_back({"path_mix_", kExact, [](Device d) {
                 Tensor xt = Tensor::empty({5, 3, 7}, d), ut = Tensor::empty({5, 3, 7}, d);
                 path_mix_(input({5, 3, 7}, 15, d), input({5, 3, 7}, 16, d), input({5, 4}, 17, d), xt, ut);
                 return Outputs{xt.to(Device::CPU), ut.to(Device::CPU)};
               }});
  // ---- reductions ------------------------------------------------------------------------------
  c.push_back({"sum_all", kSum, [](Device d) { return Outputs{host_scalar(sum_all(input({100003}, 18, d)))}; }});
  c.push_back({"sum_squares", kSum, [](Device d) {
                 Tensor a = input({1000}, 83, d), b = input({3, 77}, 84, d), e = input({0}, 85, d);
                 const Tensor* ts[3] = {&a, &b, &e};
                 return Outputs{host_scalar(sum_squares(ts))};
               }});
  c.push_back({"mean_square", kSum, [](Device d) { return Outputs{mean_square(input({70001}, 21, d)).to(Device::CPU)}; }});
  c.push_back({"dot", kSum, [](Device d) { return Outputs{host_scalar(dot(input({70001}, 19, d), input({70001}, 20, d)))}; }});
  for (int axis : {0, 1, 2})
    c.push_back({"sum", kSum, [axis](Device d) { return Outputs{sum(input({6, 7, 9}, 21, d), axis, axis == 1).to(Device::CPU)}; }});
  c.push_back({"sum_to", kSum, [](Device d) { return Outputs{sum_to(input({4, 5, 6}, 22, d), {5, 1}).to(Device::CPU)}; }});
  c.push_back({"sum_trailing", kSum, [](Device d) { return Outputs{sum_trailing(input({3, 4, 300}, 23, d), 2).to(Device::CPU)}; }});
  c.push_back({"all_finite", kExact, [](Device d) {
                 Tensor x = input({5000}, 24, d);
                 const bool before = all_finite(x);
                 x.set_at(4321, INFINITY);
                 return Outputs{host_scalar(before), host_scalar(all_finite(x))};
               }});
  // ---- linear algebra (both transposes, odd sizes) ----------------------------------------------
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      c.push_back({"matmul", kSum, [ta, tb](Device d) {
                     Tensor a = input(ta ? Shape{19, 13} : Shape{13, 19}, 25, d), b = input(tb ? Shape{11, 19} : Shape{19, 11}, 26, d);
                     return Outputs{matmul(a, b, ta, tb).to(Device::CPU)};
                   }});
      c.push_back({"matmul_into", kSum, [ta, tb](Device d) {
                     Tensor a = input(ta ? Shape{19, 13} : Shape{13, 19}, 27, d), b = input(tb ? Shape{11, 19} : Shape{19, 11}, 28, d);
                     Tensor out = input({13, 11}, 29, d);
                     matmul_into(a, b, ta, tb, 1.0f, out);
                     return Outputs{out.to(Device::CPU)};
                   }});
      c.push_back({"bmm", kSum, [ta, tb](Device d) {
                     Tensor a = input(ta ? Shape{3, 2, 9, 5} : Shape{3, 2, 5, 9}, 30, d), b = input(tb ? Shape{3, 2, 7, 9} : Shape{3, 2, 9, 7}, 31, d);
                     return Outputs{bmm(a, b, ta, tb).to(Device::CPU)};
                   }});
      c.push_back({"bmm_into", kSum, [ta, tb](Device d) {
                     Tensor a = input(ta ? Shape{4, 9, 5} : Shape{4, 5, 9}, 32, d), b = input(tb ? Shape{4, 7, 9} : Shape{4, 9, 7}, 33, d);
                     Tensor out = input({4, 5, 7}, 34, d);
                     bmm_into(a, b, ta, tb, 1.0f, out);
                     return Outputs{out.to(Device::CPU)};
                   }});
    }
  c.push_back({"linear", kSum, [](Device d) {
                 return forward_backward([](std::vector<Var>& x) { return fm::linear(x[0], x[1], x[2]); }, {{33, 17}, {9, 17}, {9}}, d, 35);
               }});
  // ---- layout ----------------------------------------------------------------------------------
  c.push_back({"concat", kExact, [](Device d) {
                 return forward_backward([](std::vector<Var>& x) { return fm::concat({x[0], x[1]}, 1); }, {{3, 2, 5}, {3, 4, 5}}, d, 36);
               }});
  c.push_back({"slice", kExact, [](Device d) {
                 return forward_backward([](std::vector<Var>& x) { return fm::slice(x[0], 2, 1, 4); }, {{3, 2, 7}}, d, 37);
               }});
  c.push_back({"slice_assign_", kExact, [](Device d) {
                 Tensor out = input({4, 6, 3}, 38, d);
                 slice_assign_(out, input({4, 2, 3}, 39, d), 1, 3);
                 return Outputs{out.to(Device::CPU)};
               }});
  c.push_back({"slice_fill_", kExact, [](Device d) { Tensor x = input({5, 6}, 40, d); slice_fill_(x, 1, 2, 5, -3.0f); return Outputs{x.to(Device::CPU)}; }});
  c.push_back({"transpose2d", kExact, [](Device d) { return Outputs{transpose2d(input({13, 7}, 41, d)).to(Device::CPU)}; }});
  c.push_back({"transpose_last2", kExact, [](Device d) {
                 return forward_backward([](std::vector<Var>& x) { return fm::transpose_last2(x[0]); }, {{2, 3, 5, 7}}, d, 42);
               }});
  c.push_back({"transpose_last2_into", kExact, [](Device d) {
                 Tensor out = input({3, 7, 5}, 43, d);
                 transpose_last2_into(input({3, 5, 7}, 44, d), 1.0f, out);
                 return Outputs{out.to(Device::CPU)};
               }});
  c.push_back({"take_rows", kExact, [](Device d) { return Outputs{take_rows(input({9, 4}, 45, d), {8, 0, 3, 3, 1}).to(Device::CPU)}; }});
  // ---- image ops -------------------------------------------------------------------------------
  struct Conv {
    Shape x, w;
    int stride, pad;
  };
  for (Conv cv : {Conv{{2, 3, 9, 7}, {5, 3, 3, 3}, 1, 1}, Conv{{2, 4, 8, 8}, {6, 4, 3, 3}, 2, 1}, Conv{{3, 5, 6, 5}, {4, 5, 1, 1}, 1, 0}}) {
    c.push_back({"conv2d_forward", kSum, [cv](Device d) {
                   return forward_backward([cv](std::vector<Var>& x) { return conv2d(x[0], x[1], x[2], cv.stride, cv.pad); },
                                           {cv.x, cv.w, {cv.w[0]}}, d, 46);
                 }});
    c.push_back({"conv2d_backward", kSum, [cv](Device d) {  // with the fused per-sample bias and residual
                   const int64_t Ho = (cv.x[2] + 2 * cv.pad - cv.w[2]) / cv.stride + 1, Wo = (cv.x[3] + 2 * cv.pad - cv.w[2]) / cv.stride + 1;
                   return forward_backward(
                       [cv](std::vector<Var>& x) { return conv2d(x[0], x[1], x[2], cv.stride, cv.pad, x[3], x[4]); },
                       {cv.x, cv.w, {cv.w[0]}, {cv.x[0], cv.w[0]}, {cv.x[0], cv.w[0], Ho, Wo}}, d, 47);
                 }});
  }
  for (bool silu : {false, true}) {
    c.push_back({"group_norm_forward", kSum, [silu](Device d) {
                   return forward_backward(
                       [silu](std::vector<Var>& x) { return silu ? group_norm_silu(x[0], 4, x[1], x[2]) : group_norm(x[0], 4, x[1], x[2]); },
                       {{3, 8, 5, 7}, {8}, {8}}, d, 48);
                 }});
    c.push_back({"group_norm_backward", kSum, [silu](Device d) {
                   return forward_backward(
                       [silu](std::vector<Var>& x) { return silu ? group_norm_silu(x[0], 2, x[1], x[2]) : group_norm(x[0], 2, x[1], x[2]); },
                       {{2, 6, 33}, {6}, {6}}, d, 49);
                 }});
  }
  c.push_back({"upsample_nearest2x_forward", kExact, [](Device d) {
                 return forward_backward([](std::vector<Var>& x) { return upsample_nearest2x(x[0]); }, {{2, 3, 5, 4}}, d, 50);
               }});
  c.push_back({"upsample_nearest2x_backward", kExact, [](Device d) {
                 Tensor dx = input({2, 3, 5, 4}, 51, d);
                 upsample_nearest2x_backward(input({2, 3, 10, 8}, 52, d), dx, 1.0f);
                 return Outputs{dx.to(Device::CPU)};
               }});
  for (int64_t n : {7, 49, 300})
    c.push_back({"softmax_forward", kSum, [n](Device d) {
                   return forward_backward([](std::vector<Var>& x) { return softmax(x[0], 0.35f); }, {{5, n}}, d, 53);
                 }});
  // Scaled logits up to 4000 apart: a maximum off by more than 0.9 overflows exp or underflows
  // every term, so only the true row maximum gives finite probabilities.
  for (int64_t n : {33, 300})
    c.push_back({"softmax_forward", kSum, [n](Device d) { return Outputs{softmax_forward(input({6, n}, 138, d, -20.0f, 20.0f), 100.0f).to(Device::CPU)}; }});
  c.push_back({"softmax_backward", kSum, [](Device d) {
                 Tensor y = softmax_forward(input({4, 33}, 54, d), 1.0f), dx = input({4, 33}, 55, d);
                 softmax_backward(y, input({4, 33}, 56, d), 2.0f, dx, 1.0f);
                 return Outputs{dx.to(Device::CPU)};
               }});
  c.push_back({"sinusoidal_embedding", kExact, [](Device d) {
                 return Outputs{sinusoidal_embedding(input({9}, 57, d, 0.0f, 1.0f), 33, 1000.0f, 10000.0f).to(Device::CPU)};
               }});
  // ---- training --------------------------------------------------------------------------------
  c.push_back({"adam_update_", kExact, [](Device d) {
                 Tensor p = input({1003}, 58, d), g = input({1003}, 59, d), m = input({1003}, 60, d), v = input({1003}, 61, d, 0.0f, 1.0f);
                 adam_update_(p, g, m, v, AdamStep{0.9f, 0.999f, 1e-8f, 1e-3f, 1.01f, 0.01f, 0.999f});
                 return Outputs{p.to(Device::CPU), m.to(Device::CPU), v.to(Device::CPU)};
               }});
  c.push_back({"ema_update_", kExact, [](Device d) { Tensor s = input({777}, 62, d); ema_update_(s, input({777}, 63, d), 0.9f); return Outputs{s.to(Device::CPU)}; }});
  // ---- ODE solvers and likelihoods -------------------------------------------------------------
  c.push_back({"rk_combine_", kExact, [](Device d) {
                 Tensor y0 = input({4097}, 64, d), k0 = input({4097}, 65, d), k1 = input({4097}, 66, d), k2 = input({4097}, 67, d);
                 const Tensor* ks[3] = {&k0, &k1, &k2};
                 const double w[3] = {0.2, 0.0, -1.3};
                 Tensor out = Tensor::empty({4097}, d);
                 rk_combine_(out, y0, 0.05, w, ks);
                 return Outputs{out.to(Device::CPU)};
               }});
  c.push_back({"rk_error_ratio", kSum, [](Device d) {
                 Tensor y0 = input({3001}, 68, d), y1 = input({3001}, 69, d), k0 = input({3001}, 70, d), k1 = input({3001}, 71, d);
                 const Tensor* ks[2] = {&k0, &k1};
                 const double e[2] = {0.1, -0.2};
                 const int64_t parts[2] = {3000, 1};
                 return Outputs{host_scalar(rk_error_ratio(y0, y1, ks, 0.01, e, 1e-5, 1e-5, parts))};
               }});
  c.push_back({"scaled_norm", kSum, [](Device d) {
                 Tensor a = input({2000}, 72, d), b = input({2000}, 73, d), r = input({2000}, 74, d);
                 const int64_t parts[2] = {1500, 500};
                 return Outputs{host_scalar(scaled_norm(a, &b, r, 1e-4, 1e-3, parts)), host_scalar(scaled_norm(a, nullptr, r, 1e-4, 1e-3, parts))};
               }});
  c.push_back({"first_nonfinite", kExact, [](Device d) {
                 Tensor a = input({50}, 75, d), b = input({50}, 76, d);
                 b.set_at(7, NAN);
                 const Tensor* ts[2] = {&a, &b};
                 return Outputs{host_scalar(first_nonfinite(ts))};
               }});
  c.push_back({"row_dot_add_", kExact, [](Device d) {
                 Tensor acc = input({6}, 77, d);
                 row_dot_add_(acc, input({6, 2, 5}, 78, d), input({6, 2, 5}, 79, d), 0.5f);
                 return Outputs{acc.to(Device::CPU)};
               }});
  c.push_back({"add_column_", kExact, [](Device d) { Tensor acc = input({6}, 80, d); add_column_(acc, input({6, 4}, 81, d), 3); return Outputs{acc.to(Device::CPU)}; }});
  c.push_back({"row_sum_squares", kExact, [](Device d) {
                 const std::vector<double> sq = row_sum_squares(input({5, 7}, 82, d));
                 Outputs out;
                 for (double v : sq) out.push_back(host_scalar(v));
                 return out;
               }});
  // ---- random fills (Rng, tensor/random.h): the same stream position gives the same numbers ----
  c.push_back({"Rng::uniform", kExact, [](Device d) { Tensor t = Tensor::empty({1001}, d); Rng(5, 3).uniform(t, -2.0f, 3.0f); return Outputs{t.to(Device::CPU)}; }});
  c.push_back({"Rng::normal", kExact, [](Device d) { Tensor t = Tensor::empty({1001}, d); Rng(6, 1).normal(t, 0.5f, 2.0f); return Outputs{t.to(Device::CPU)}; }});
  // A share of a draw (data-parallel training): rows 3..9 of 11 rows of 7 words, a first word that is
  // not a multiple of 4.
  c.push_back({"Rng::normal (share)", kExact, [](Device d) {
    Tensor t = Tensor::empty({6, 7}, d);
    Rng r(8, 2);
    r.set_share({3, 6, 11});
    r.normal(t);
    return Outputs{t.to(Device::CPU)};
  }});
  c.push_back({"Rng::rademacher", kExact, [](Device d) { Tensor t = Tensor::empty({1001}, d); Rng(7).rademacher(t); return Outputs{t.to(Device::CPU)}; }});
  // ---- second passes of the grid-stride loops (more than 4096 x 256 elements) -------------------
  c.push_back({"unary", kExact, [](Device d) { return Outputs{unary(UnaryOp::Silu, input({1100003}, 90, d)).to(Device::CPU)}; }});
  c.push_back({"binary", kExact, [](Device d) {
                 return Outputs{binary(BinaryOp::Mul, input({1100, 1001}, 91, d), input({1001}, 92, d)).to(Device::CPU)};
               }});
  c.push_back({"transpose2d", kExact, [](Device d) { return Outputs{transpose2d(input({1031, 1069}, 93, d)).to(Device::CPU)}; }});
  c.push_back({"slice_fill_", kExact, [](Device d) { Tensor x = input({1200, 1000}, 94, d); slice_fill_(x, 1, 1, 999, 2.0f); return Outputs{x.to(Device::CPU)}; }});
  c.push_back({"Rng::uniform", kExact, [](Device d) { Tensor t = Tensor::empty({4200001}, d); Rng(9, 1).uniform(t, 0.0f, 1.0f); return Outputs{t.to(Device::CPU)}; }});
  // ---- views at an offset (Tensor::rows) as inputs and outputs -----------------------------------
  c.push_back({"binary", kExact, [](Device d) {
                 Tensor a = input({9, 5}, 95, d), b = input({9, 5}, 96, d);
                 return Outputs{binary(BinaryOp::Sub, a.rows(2, 7), b.rows(4, 9)).to(Device::CPU)};
               }});
  c.push_back({"matmul", kSum, [](Device d) {
                 Tensor a = input({12, 7}, 97, d), b = input({7, 5}, 98, d);
                 return Outputs{matmul(a.rows(3, 11), b, false, false).to(Device::CPU)};
               }});
  c.push_back({"axpy_", kExact, [](Device d) {
                 Tensor y = input({10, 3}, 99, d);
                 Tensor part = y.rows(6, 9);
                 axpy_(2.0f, input({3, 3}, 100, d), part);
                 return Outputs{y.to(Device::CPU)};
               }});
  // ---- the backward ops' accumulating (beta = 1) and overwriting (beta = 0 over NaN) forms -------
  for (float beta : {1.0f, 0.0f})
    for (Conv cv : {Conv{{2, 3, 9, 7}, {5, 3, 3, 3}, 1, 1}, Conv{{2, 4, 8, 8}, {6, 4, 3, 3}, 2, 1}}) {
      c.push_back({"conv2d_backward", kSum, [cv, beta](Device d) {
                     const int64_t Ho = (cv.x[2] + 2 * cv.pad - cv.w[2]) / cv.stride + 1, Wo = (cv.x[3] + 2 * cv.pad - cv.w[2]) / cv.stride + 1;
                     const Shape ys{cv.x[0], cv.w[0], Ho, Wo};
                     Tensor dx = beta == 0.0f ? nans(cv.x, d) : input(cv.x, 101, d);
                     Tensor dw = beta == 0.0f ? nans(cv.w, d) : input(cv.w, 102, d);
                     Tensor db = beta == 0.0f ? nans({cv.w[0]}, d) : input({cv.w[0]}, 103, d);
                     conv2d_backward(input(cv.x, 104, d), input(cv.w, 105, d), input(ys, 106, d), cv.stride, cv.pad, &dx, beta,
                                     &dw, beta, &db, beta);
                     return to_host({dx, dw, db});
                   }});
    }
  for (float beta : {1.0f, 0.0f})
    for (bool silu : {false, true})
      c.push_back({"group_norm_backward", kSum, [beta, silu](Device d) {
                     const Shape xs{3, 6, 5, 4};
                     Tensor x = input(xs, 107, d), gamma = input({6}, 108, d), bias = input({6}, 109, d), mean, rstd;
                     group_norm_forward(x, 3, gamma, bias, 1e-5f, mean, rstd, silu);
                     Tensor dx = beta == 0.0f ? nans(xs, d) : input(xs, 110, d);
                     Tensor dg = beta == 0.0f ? nans({6}, d) : input({6}, 111, d), db = beta == 0.0f ? nans({6}, d) : input({6}, 112, d);
                     group_norm_backward(x, 3, gamma, bias, mean, rstd, input(xs, 113, d), silu, &dx, beta, &dg, beta, &db, beta);
                     return to_host({dx, dg, db});
                   }});
  // ---- empty batches: outputs of the right shape; gradients of nothing are zero (beta = 0) --------
  c.push_back({"conv2d_forward", kExact, [](Device d) { return Outputs{conv2d_forward(input({0, 3, 6, 6}, 114, d), input({4, 3, 3, 3}, 115, d), input({4}, 116, d), 1, 1).to(Device::CPU)}; }});
  c.push_back({"conv2d_backward", kExact, [](Device d) {
                 Tensor dx = Tensor::empty({0, 3, 6, 6}, d), dw = nans({4, 3, 3, 3}, d), db = nans({4}, d);
                 conv2d_backward(input({0, 3, 6, 6}, 117, d), input({4, 3, 3, 3}, 118, d), input({0, 4, 6, 6}, 119, d), 1, 1, &dx, 0.0f,
                                 &dw, 0.0f, &db, 0.0f);
                 return to_host({dx, dw, db});
               }});
  c.push_back({"group_norm_backward", kExact, [](Device d) {
                 Tensor x = input({0, 4, 3, 3}, 120, d), gamma = input({4}, 121, d), bias = input({4}, 122, d), mean, rstd;
                 Tensor y = group_norm_forward(x, 2, gamma, bias, 1e-5f, mean, rstd, false);
                 Tensor dx = Tensor::empty({0, 4, 3, 3}, d), dg = nans({4}, d), db = nans({4}, d);
                 group_norm_backward(x, 2, gamma, bias, mean, rstd, input({0, 4, 3, 3}, 123, d), false, &dx, 0.0f, &dg, 0.0f, &db, 0.0f);
                 return to_host({y, dx, dg, db});
               }});
  c.push_back({"matmul", kExact, [](Device d) {  // K = 0: an empty sum
                 return Outputs{matmul(input({3, 0}, 124, d), input({0, 4}, 125, d), false, false).to(Device::CPU),
                                matmul(input({0, 5}, 126, d), input({5, 4}, 127, d), false, false).to(Device::CPU)};
               }});
  c.push_back({"linear", kExact, [](Device d) { return Outputs{fm::linear(input({0, 6}, 128, d), input({3, 6}, 129, d), input({3}, 130, d)).to(Device::CPU)}; }});
  c.push_back({"softmax_forward", kExact, [](Device d) { return Outputs{softmax_forward(input({0, 7}, 131, d), 1.0f).to(Device::CPU)}; }});
  c.push_back({"sum_all", kExact, [](Device d) { return Outputs{host_scalar(sum_all(input({0, 3}, 132, d))), sum(input({0, 3}, 133, d), 0, false).to(Device::CPU)}; }});
  // ---- odd corners: dropout of everything, NaN through the error norm ----------------------------
  c.push_back({"dropout_mask_", kExact, [](Device d) { Tensor u = input({300}, 134, d, 0.0f, 1.0f); dropout_mask_(u, 1.0f); return Outputs{u.to(Device::CPU)}; }});
  c.push_back({"rk_error_ratio", kExact, [](Device d) {
                 Tensor y0 = input({500}, 135, d), y1 = input({500}, 136, d), k0 = input({500}, 137, d);
                 k0.set_at(321, NAN);
                 const Tensor* ks[1] = {&k0};
                 const double e[1] = {0.3};
                 const int64_t parts[2] = {400, 100};
                 return Outputs{host_scalar(rk_error_ratio(y0, y1, ks, 0.01, e, 1e-5, 1e-5, parts))};
               }});
  return c;
}

}  // namespace

TEST_CASE("backend ops: every op on the GPU matches the CPU") {
  for (const OpCase& oc : cases()) {
    CAPTURE(oc.op);
    try {
      const Outputs cpu = oc.run(Device::CPU), gpu = oc.run(Device::CUDA);
      CHECK(cpu.size() == gpu.size());
      for (size_t i = 0; i < std::min(cpu.size(), gpu.size()); ++i) {
        CAPTURE(i);
        const Agreement a = compare(gpu[i], cpu[i]);
        CHECK(a.same_shape);
        CHECK(a.same_nans);
        CHECK(a.nmse <= oc.tol);
        CHECK(a.max_err <= max_err_bound(oc.tol));
      }
    } catch (const std::exception& e) {
      FAIL_CHECK(oc.op << " threw: " << e.what());
    }
  }
}

TEST_CASE("backend ops: a GPU run repeats bit for bit") {
  for (const OpCase& oc : cases()) {
    CAPTURE(oc.op);
    try {
      const Outputs a = oc.run(Device::CUDA), b = oc.run(Device::CUDA);
      for (size_t i = 0; i < a.size(); ++i) {
        const std::vector<float> va = a[i].to_vector(), vb = b[i].to_vector();
        REQUIRE(va.size() == vb.size());
        CHECK((va.empty() || std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0));  // NaN included
      }
    } catch (const std::exception& e) {
      FAIL_CHECK(oc.op << " threw: " << e.what());
    }
  }
}

// A slice along axis 0 of a tensor over 2 GiB: one contiguous copy, since a 2-D copy's pitch would
// be the whole tensor, above the device's limit (memPitch, 2^31 - 1 bytes).
TEST_CASE("backend ops: slices of a tensor over 2 GiB") {
  const int64_t n = (int64_t(1) << 29) + 3;  // 2 GiB + 12 bytes
  Tensor x = Tensor::full({n}, 1.5f, Device::CUDA);
  x.set_at(n - 1, 7.0f);
  Tensor tail = slice(x, 0, n - 5, n);
  CHECK(tail.to_vector() == std::vector<float>{1.5f, 1.5f, 1.5f, 1.5f, 7.0f});
  slice_assign_(x, Tensor::full({2}, -2.0f, Device::CUDA), 0, n - 2);
  CHECK(x.at(n - 3) == 1.5f);
  CHECK(x.at(n - 1) == -2.0f);
}

int main(int argc, char** argv) { return gpu_suite_main(argc, argv); }
