// cuda/layout.cu: concat, slice and gathers. A tensor viewed as [outer, size(axis), inner] makes a
// slice a strided copy of `outer` rows of run = len * inner floats (copy_rows).
#include <algorithm>
#include <stdexcept>

#include "cuda/common.cuh"
#include "cuda/device.h"
#include "cuda/kernels.h"

namespace fm::cuda {

namespace {

// `rows` runs of `run` floats from src (row pitch src_pitch floats) to dst (pitch dst_pitch). One
// contiguous copy when the runs touch (a slice along axis 0: a 2-D copy's pitch would be the whole
// tensor); a 2-D copy when its pitches fit the device's limit (memPitch, 2^31 - 1 bytes); else a copy
// per row (rows of over 2 GiB: a few at most).
void copy_rows(float* dst, int64_t dst_pitch, const float* src, int64_t src_pitch, int64_t run, int64_t rows) {
  if (run == 0 || rows == 0) return;
  const size_t width = size_t(run) * sizeof(float);
  if (rows == 1 || (dst_pitch == run && src_pitch == run)) {
    check(cudaMemcpyAsync(dst, src, width * size_t(rows), cudaMemcpyDeviceToDevice, stream()), "cudaMemcpyAsync");
  } else if (std::max(dst_pitch, src_pitch) * int64_t(sizeof(float)) <= 2147483647) {
    check(cudaMemcpy2DAsync(dst, size_t(dst_pitch) * sizeof(float), src, size_t(src_pitch) * sizeof(float), width,
                            size_t(rows), cudaMemcpyDeviceToDevice, stream()),
          "cudaMemcpy2DAsync");
  } else {
    for (int64_t r = 0; r < rows; ++r)
      check(cudaMemcpyAsync(dst + r * dst_pitch, src + r * src_pitch, width, cudaMemcpyDeviceToDevice, stream()),
            "cudaMemcpyAsync");
  }
}

__global__ void fill_rows_kernel(float* dst, int64_t pitch, int64_t run, int64_t rows, float value) {
  FM_CUDA_LOOP(w, rows * run) dst[(w / run) * pitch + w % run] = value;
}

// out[b][c, r] (+)= x[b][r, c] for each [rows, cols] matrix b.
__global__ void transpose_kernel(const float* x, float* out, int64_t batch, int64_t rows, int64_t cols, float beta) {
  FM_CUDA_LOOP(w, batch * rows * cols) {
    const int64_t b = w / (rows * cols), rc = w % (rows * cols), r = rc / cols, c = rc % cols;
    float* o = out + b * rows * cols + c * rows + r;
    *o = beta == 0.0f ? x[w] : *o + x[w];
  }
}

__global__ void take_rows_kernel(const float* x, const int64_t* index, float* out, int64_t row, int64_t n) {
  FM_CUDA_LOOP(w, n) out[w] = x[index[w / row] * row + w % row];
}

}  // namespace

Tensor slice(const Tensor& x, int axis, int64_t begin, int64_t end) {
  const AxisView view = axis_view(x.shape(), axis, "slice");
  axis = view.axis;
  const int64_t size = x.dim(axis);
  check_range("slice", begin, end, size);
  const int64_t outer = view.outer, inner = view.inner;
  Shape os = x.shape();
  os[axis] = end - begin;
  Tensor out = Tensor::empty(os, Device::CUDA);
  const int64_t run = (end - begin) * inner;
  copy_rows(ptr(out), run, ptr(x) + begin * inner, size * inner, run, outer);
  return out;
}

void slice_assign_(Tensor& out, const Tensor& part, int axis, int64_t begin) {
  const AxisView view = axis_view(out.shape(), axis, "slice_assign_");
  axis = view.axis;
  const int64_t size = out.dim(axis), len = part.dim(axis);
  check_range("slice_assign_", begin, begin + len, size);
  const int64_t outer = view.outer, inner = view.inner;
  const int64_t run = len * inner;
  copy_rows(ptr(out) + begin * inner, size * inner, ptr(part), run, run, outer);
}

Tensor concat(const std::vector<Tensor>& parts, int axis) {
  const Shape os = concat_shape(parts, axis);
  Tensor out = Tensor::empty(os, Device::CUDA);
  int64_t begin = 0;
  for (const Tensor& p : parts) {
    cuda::slice_assign_(out, p, axis, begin);
    begin += p.dim(axis);
  }
  return out;
}

void slice_fill_(Tensor& out, int axis, int64_t begin, int64_t end, float value) {
  const AxisView view = axis_view(out.shape(), axis, "slice_fill_");
  axis = view.axis;
  const int64_t size = out.dim(axis);
  check_range("slice_fill_", begin, end, size);
  const int64_t outer = view.outer, inner = view.inner;
  const int64_t run = (end - begin) * inner;
  if (run * outer == 0) return;
  FM_LAUNCH(fill_rows_kernel, grid_for(run * outer), kThreads, 0, stream())(ptr(out) + begin * inner, size * inner, run, outer, value);
  launched("slice_fill_");
}

Tensor transpose2d(const Tensor& x) {
  Tensor out = Tensor::empty({x.dim(1), x.dim(0)}, Device::CUDA);
  cuda::transpose_last2_into(x, 0.0f, out);
  return out;
}

void transpose_last2_into(const Tensor& x, float beta, Tensor& out) {
  const int64_t rows = x.dim(-2), cols = x.dim(-1), batch = x.numel() / std::max<int64_t>(1, rows * cols);
  if (x.numel() == 0) return;
  FM_LAUNCH(transpose_kernel, grid_for(x.numel()), kThreads, 0, stream())(ptr(x), ptr(out), batch, rows, cols, beta);
  launched("transpose_last2_into");
}

Tensor take_rows(const Tensor& x, const std::vector<int64_t>& index) {
  const int64_t n = x.dim(0), row = n ? x.numel() / n : 0;
  Shape os = x.shape();
  os[0] = int64_t(index.size());
  Tensor out = Tensor::empty(os, Device::CUDA);
  if (out.numel() == 0) return out;
  // The indices go up through a cached block; released at once, reused only in stream order.
  size_t bytes = index.size() * sizeof(int64_t);
  void* dev = cuda::alloc(bytes);
  cuda::copy(dev, index.data(), index.size() * sizeof(int64_t), Copy::HostToDevice);
  FM_LAUNCH(take_rows_kernel, grid_for(out.numel()), kThreads, 0, stream())(ptr(x), static_cast<const int64_t*>(dev), ptr(out), row,
                                                                     out.numel());
  launched("take_rows");
  cuda::free(dev, bytes);
  return out;
}

}  // namespace fm::cuda
