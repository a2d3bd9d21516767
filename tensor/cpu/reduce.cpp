// tensor/cpu/reduce.cpp: reductions. Each output element sums its inputs in a fixed order, so the
// result never depends on how many threads ran (see tensor/cpu/parallel.h).
#include <cmath>
#include <stdexcept>

#include "tensor/cpu/kernels.h"
#include "tensor/cpu/lanes.h"
#include "tensor/cpu/parallel.h"

namespace fm::cpu {

double sum_all(const Tensor& x) {
  const float* p = x.data();
  return parallel_sum(x.numel(), [&](int64_t lo, int64_t hi) {
    double s = 0.0;
    for (int64_t i = lo; i < hi; ++i) s += p[i];
    return s;
  });
}

double dot(const Tensor& a, const Tensor& b) {
  const float* pa = a.data();
  const float* pb = b.data();
  return parallel_sum(a.numel(), [&](int64_t lo, int64_t hi) {
    double s = 0.0;
    for (int64_t i = lo; i < hi; ++i) s += double(pa[i]) * pb[i];
    return s;
  });
}

Tensor mean_square(const Tensor& x) {
  return Tensor::scalar(x.numel() ? static_cast<float>(cpu::dot(x, x) / double(x.numel())) : NAN);
}

double sum_squares(std::span<const Tensor* const> ts) {
  double s = 0.0;
  for (const Tensor* t : ts) s += cpu::dot(*t, *t);
  return s;
}

bool all_finite(const Tensor& x) {
  const float* p = x.data();
  double bad = parallel_sum(x.numel(), [&](int64_t lo, int64_t hi) {
    int64_t n = 0;
    for (int64_t i = lo; i < hi; ++i) n += !std::isfinite(p[i]);
    return double(n);
  });
  return bad == 0.0;
}

// x viewed as [outer, r, inner]; out[o, i] = sum_k x[o, k, i], k ascending. Work is split over
// (o, block of i) pairs, and the inner loop over i vectorises.
Tensor sum(const Tensor& x, int axis, bool keepdim) {
  int nd = x.ndim();
  if (axis < 0) axis += nd;
  int64_t outer = 1, inner = 1, r = x.shape()[axis];
  for (int d = 0; d < axis; ++d) outer *= x.shape()[d];
  for (int d = axis + 1; d < nd; ++d) inner *= x.shape()[d];
  Shape os = x.shape();
  if (keepdim) os[axis] = 1; else os.erase(os.begin() + axis);
  Tensor out = Tensor::empty(os);
  const float* px = x.data();
  float* po = out.data();
  constexpr int64_t kBlock = 512;
  int64_t blocks = (inner + kBlock - 1) / kBlock;
  parallel_for(outer * blocks, grain_for(r * kBlock),
               [&](int64_t lo, int64_t hi) {
    for (int64_t w = lo; w < hi; ++w) {
      int64_t o = w / blocks, i0 = (w % blocks) * kBlock, i1 = std::min(inner, i0 + kBlock);
      float* dst = po + o * inner;
      for (int64_t i = i0; i < i1; ++i) dst[i] = 0.0f;
      for (int64_t k = 0; k < r; ++k) {
        const float* src = px + (o * r + k) * inner;
        for (int64_t i = i0; i < i1; ++i) dst[i] += src[i];
      }
    }
  });
  return out;
}

Tensor sum_trailing(const Tensor& x, int keep) {
  const Shape os(x.shape().begin(), x.shape().begin() + keep);
  const int64_t rows = shape_numel(os), n = rows ? x.numel() / rows : 0;
  Tensor out = Tensor::empty(os);
  const float* px = x.data();
  float* po = out.data();
  parallel_for(rows, grain_for(n), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) po[i] = float(lane_sum(px + i * n, n));
  });
  return out;
}

}  // namespace fm::cpu
