// tensor/cpu/layout.cpp: concat, slice and gathers. A tensor viewed as [outer, size(axis), inner]
// makes every one of these a loop of memcpy's over contiguous runs.
#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"

namespace fm::cpu {


Tensor concat(const std::vector<Tensor>& parts, int axis) {
  const Shape os = concat_shape(parts, axis);
  Tensor out = Tensor::empty(os);
  int64_t begin = 0;
  for (const Tensor& p : parts) {
    cpu::slice_assign_(out, p, axis, begin);
    begin += p.dim(axis);
  }
  return out;
}

Tensor slice(const Tensor& x, int axis, int64_t begin, int64_t end) {
  const AxisView view = axis_view(x.shape(), axis, "slice");
  axis = view.axis;
  int64_t size = x.dim(axis);
  check_range("slice", begin, end, size);
  const int64_t outer = view.outer, inner = view.inner;
  Shape os = x.shape();
  os[axis] = end - begin;
  Tensor out = Tensor::empty(os);
  int64_t run = (end - begin) * inner;
  const float* src = x.data();
  float* dst = out.data();
  parallel_for(outer, grain_for(run), [&](int64_t lo, int64_t hi) {
    for (int64_t o = lo; o < hi; ++o) std::memcpy(dst + o * run, src + (o * size + begin) * inner, run * sizeof(float));
  });
  return out;
}

void slice_assign_(Tensor& out, const Tensor& part, int axis, int64_t begin) {
  const AxisView view = axis_view(out.shape(), axis, "slice_assign_");
  axis = view.axis;
  int64_t size = out.dim(axis), len = part.dim(axis);
  check_range("slice_assign_", begin, begin + len, size);
  const int64_t outer = view.outer, inner = view.inner;
  int64_t run = len * inner;
  const float* src = part.data();
  float* dst = out.data();
  parallel_for(outer, grain_for(run), [&](int64_t lo, int64_t hi) {
    for (int64_t o = lo; o < hi; ++o) std::memcpy(dst + (o * size + begin) * inner, src + o * run, run * sizeof(float));
  });
}

Tensor transpose2d(const Tensor& x) {
  int64_t R = x.dim(0), C = x.dim(1);
  Tensor out = Tensor::empty({C, R});
  const float* s = x.data();
  float* d = out.data();
  parallel_for(C, grain_for(R), [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c)
      for (int64_t r = 0; r < R; ++r) d[c * R + r] = s[r * C + c];
  });
  return out;
}

void slice_fill_(Tensor& out, int axis, int64_t begin, int64_t end, float value) {
  const AxisView view = axis_view(out.shape(), axis, "slice_fill_");
  axis = view.axis;
  const int64_t size = out.dim(axis);
  check_range("slice_fill_", begin, end, size);
  const int64_t outer = view.outer, inner = view.inner;
  float* dst = out.data();
  parallel_for(outer, grain_for((end - begin) * inner), [&](int64_t lo, int64_t hi) {
    for (int64_t o = lo; o < hi; ++o)
      std::fill(dst + (o * size + begin) * inner, dst + (o * size + end) * inner, value);
  });
}

// out[i] (+)= x[i]^T for each [rows, cols] matrix of the batch.
void transpose_last2_into(const Tensor& x, float beta, Tensor& out) {
  const int64_t rows = x.dim(-2), cols = x.dim(-1), batch = x.numel() / std::max<int64_t>(1, rows * cols);
  const float* in = x.data();
  float* po = out.data();
  parallel_for(batch * rows, grain_for(cols), [&](int64_t lo, int64_t hi) {
    for (int64_t br = lo; br < hi; ++br) {
      const int64_t i = br / rows, r = br % rows;
      const float* src = in + br * cols;
      float* dst = po + i * rows * cols + r;
      for (int64_t c = 0; c < cols; ++c) dst[c * rows] = beta == 0.0f ? src[c] : dst[c * rows] + src[c];
    }
  });
}

Tensor take_rows(const Tensor& x, const std::vector<int64_t>& index) {
  int64_t n = x.dim(0), row = n ? x.numel() / n : 0;
  Shape os = x.shape();
  os[0] = static_cast<int64_t>(index.size());
  Tensor out = Tensor::empty(os);
  const float* s = x.data();
  float* d = out.data();
  parallel_for(static_cast<int64_t>(index.size()), grain_for(row), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) std::memcpy(d + i * row, s + index[i] * row, row * sizeof(float));
  });
  return out;
}

}  // namespace fm::cpu
