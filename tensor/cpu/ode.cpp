// tensor/cpu/ode.cpp: the CPU kernels of the ODE solvers and the likelihood (tensor/ops.h):
// Runge–Kutta linear combinations, torchdiffeq's mixed error norms, finiteness checks and the
// per-sample dots of the divergence. Each output element depends only on the same element of the
// inputs, and the norms go through parallel_sum's fixed chunks: no result depends on the number
// of threads.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"
#include "tensor/fused_math.h"

namespace fm::cpu {

namespace {

constexpr int kMaxTerms = 8;         // stages of the largest tableau (dopri5: 7) fit

// The max over consecutive parts of sqrt(mean(v_i^2)), v_i = value(i); NaN stays NaN.
template <class Value>
double mixed_norm(std::span<const int64_t> parts, const Value& value) {
  double norm = 0.0;
  int64_t offset = 0;
  for (int64_t size : parts) {
    double sq = parallel_sum(size, [&](int64_t lo, int64_t hi) {
      double s = 0.0;
      for (int64_t i = offset + lo; i < offset + hi; ++i) {
        double v = value(i);
        s += v * v;
      }
      return s;
    });
    if (std::isnan(sq)) return sq;  // std::max would drop a NaN
    if (size > 0) norm = std::max(norm, std::sqrt(sq / double(size)));
    offset += size;
  }
  return norm;
}

void check_terms(size_t w, size_t k, const char* what) {
  if (w != k || k > size_t(kMaxTerms)) throw std::runtime_error(std::string(what) + ": weights and stages differ or are too many");
}

}  // namespace

void rk_combine_(Tensor& out, const Tensor& y0, double h, std::span<const double> w, std::span<const Tensor* const> k) {
  check_terms(w.size(), k.size(), "rk_combine_");
  double hw[kMaxTerms];
  const float* kk[kMaxTerms];
  int terms = 0;
  for (size_t j = 0; j < w.size(); ++j)
    if (w[j] != 0.0) hw[terms] = h * w[j], kk[terms++] = k[j]->data();
  const float* py0 = y0.data();
  float* po = out.data();
  parallel_for(out.numel(), grain_for(terms + 1), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) po[i] = fused::rk_combine(py0[i], hw, kk, terms, i);
  });
}

double rk_error_ratio(const Tensor& y0, const Tensor& y1, std::span<const Tensor* const> k, double h,
                      std::span<const double> e, double atol, double rtol, std::span<const int64_t> parts) {
  check_terms(e.size(), k.size(), "rk_error_ratio");
  const int m = int(k.size());
  double he[kMaxTerms];
  const float* kk[kMaxTerms];
  for (int j = 0; j < m; ++j) he[j] = h * e[j], kk[j] = k[j]->data();
  const float *p0 = y0.data(), *p1 = y1.data();
  return mixed_norm(parts, [&](int64_t i) { return fused::rk_error(p0[i], p1[i], he, kk, m, i, atol, rtol); });
}

double scaled_norm(const Tensor& a, const Tensor* b, const Tensor& ref, double atol, double rtol,
                   std::span<const int64_t> parts) {
  const float *pa = a.data(), *pb = b ? b->data() : nullptr, *pr = ref.data();
  return mixed_norm(parts, [&](int64_t i) { return fused::scaled(pa[i], pb, pr[i], i, atol, rtol); });
}

int first_nonfinite(std::span<const Tensor* const> ts) {
  for (size_t j = 0; j < ts.size(); ++j)
    if (!cpu::all_finite(*ts[j])) return int(j);
  return -1;
}

void row_dot_add_(Tensor& acc, const Tensor& a, const Tensor& c, float scale) {
  const int64_t B = acc.numel(), D = B ? a.numel() / B : 0;
  const float *pa = a.data(), *pc = c.data();
  float* out = acc.data();
  parallel_for(B, grain_for(2 * D), [&](int64_t lo, int64_t hi) {
    for (int64_t b = lo; b < hi; ++b) {
      float s = 0.0f;
      for (int64_t j = 0; j < D; ++j) s += pa[b * D + j] * pc[b * D + j];
      out[b] += scale * s;
    }
  });
}

void add_column_(Tensor& acc, const Tensor& x, int64_t i) {
  const int64_t B = acc.numel(), D = B ? x.numel() / B : 0;
  const float* px = x.data();
  float* out = acc.data();
  for (int64_t b = 0; b < B; ++b) out[b] += px[b * D + i];
}

std::vector<double> row_sum_squares(const Tensor& x) {
  const int64_t B = x.dim(0), D = B ? x.numel() / B : 0;
  const float* p = x.data();
  std::vector<double> out(static_cast<size_t>(B));
  for (int64_t i = 0; i < B; ++i) {
    double sq = 0.0;
    for (int64_t j = 0; j < D; ++j) sq += double(p[i * D + j]) * p[i * D + j];
    out[size_t(i)] = sq;
  }
  return out;
}

}  // namespace fm::cpu
