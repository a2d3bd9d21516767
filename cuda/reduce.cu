// cuda/reduce.cu: reductions. Whole-tensor sums go through the fixed-order sum of reduce.cuh;
// sums over an axis give each output element to one thread, which adds its inputs in the same
// order as the CPU kernel (so those are bit for bit the CPU's).
#include <cmath>
#include <stdexcept>
#include <vector>

#include "cuda/device.h"
#include "cuda/kernels.h"
#include "cuda/reduce.cuh"

namespace fm::cuda {

double* reduce_scratch() {
  static double* scratch = [] {
    void* p = nullptr;
    check(cudaMalloc(&p, kReduceScratch * sizeof(double)), "cudaMalloc (reduction scratch)");
    return static_cast<double*>(p);
  }();
  return scratch;
}

__global__ void reduce_final(const double* partials, double* out, bool add) {
  __shared__ double shared[kThreads];
  double acc = 0.0;
  for (int i = threadIdx.x; i < kReduceBlocks; i += kThreads) acc += partials[i];
  shared[threadIdx.x] = acc;
  fold_block(shared);
  if (threadIdx.x == 0) *out = add ? *out + shared[0] : shared[0];
}

namespace {

struct Value {
  const float* p;
  __device__ double operator()(int64_t i) const { return p[i]; }
};
struct Product {
  const float *a, *b;
  __device__ double operator()(int64_t i) const { return double(a[i]) * b[i]; }
};
// x^2 for element i of the tensors laid end to end: tensor k holds [start[k], start[k + 1]).
struct SquaresOfParts {
  const float* const* parts;
  const int64_t* start;
  int count;
  __device__ double operator()(int64_t i) const {
    int lo = 0, hi = count - 1;  // the last k with start[k] <= i (empty tensors are skipped)
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (start[mid] <= i) lo = mid;
      else hi = mid - 1;
    }
    const double v = parts[lo][i - start[lo]];
    return v * v;
  }
};
struct NonFinite {
  const float* p;
  __device__ double operator()(int64_t i) const { return isfinite(p[i]) ? 0.0 : 1.0; }
};

// x as [outer, r, inner]: out[o, i] = sum_k x[o, k, i], k ascending, in float (as the CPU).
__global__ void sum_axis_kernel(const float* x, float* out, int64_t outer, int64_t r, int64_t inner) {
  FM_CUDA_LOOP(w, outer * inner) {
    const int64_t o = w / inner, i = w % inner;
    float acc = 0.0f;
    for (int64_t k = 0; k < r; ++k) acc += x[(o * r + k) * inner + i];
    out[w] = acc;
  }
}

// One block per row of n: a double sum in a fixed tree.
__global__ void row_sums_kernel(const float* x, float* out, int64_t n) {
  __shared__ double shared[kThreads];
  const float* row = x + blockIdx.x * n;
  double acc = 0.0;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) acc += row[j];
  shared[threadIdx.x] = acc;
  fold_block(shared);
  if (threadIdx.x == 0) out[blockIdx.x] = float(shared[0]);
}

// out = float(sum / n): the last step of mean_square, on the device.
__global__ void mean_from_sum_kernel(const double* sum, double n, float* out) { *out = float(*sum / n); }

}  // namespace

double sum_all(const Tensor& x) { return x.numel() ? reduce_sum(Value{ptr(x)}, x.numel()) : 0.0; }

double dot(const Tensor& a, const Tensor& b) {
  return a.numel() ? reduce_sum(Product{ptr(a), ptr(b)}, a.numel()) : 0.0;
}

// The sum stays in the reduction scratch's result slot and a one-thread kernel divides it: the
// stream orders the read before any later reduction overwrites the slot.
Tensor mean_square(const Tensor& x) {
  Tensor out = Tensor::full({}, NAN, Device::CUDA);
  if (x.numel() == 0) return out;
  double* sum = reduce_scratch() + kResultSlot;
  reduce_sum_device(Product{ptr(x), ptr(x)}, x.numel(), sum);
  FM_LAUNCH(mean_from_sum_kernel, 1, 1, 0, stream())(sum, double(x.numel()), ptr(out));
  launched("mean_square");
  return out;
}

// All tensors in one reduction (a gradient norm over a model's parameters is then 2 launches, not 2
// per parameter): the pointer table and the prefix sums of the sizes go up in one copy.
double sum_squares(std::span<const Tensor* const> ts) {
  const int count = int(ts.size());
  std::vector<int64_t> table(2 * ts.size() + 1);  // pointers, then start[0..count]
  int64_t total = 0;
  for (int k = 0; k < count; ++k) {
    table[k] = reinterpret_cast<int64_t>(ptr(*ts[k]));
    table[count + k] = total;
    total += ts[k]->numel();
  }
  table[2 * count] = total;
  if (total == 0) return 0.0;
  size_t bytes = table.size() * sizeof(int64_t);
  void* dev = cuda::alloc(bytes);
  cuda::copy(dev, table.data(), table.size() * sizeof(int64_t), Copy::HostToDevice);
  const auto* words = static_cast<const int64_t*>(dev);
  const double total_sq = reduce_sum(SquaresOfParts{reinterpret_cast<const float* const*>(words), words + count, count}, total);
  cuda::free(dev, bytes);  // stream order: reused only by later work
  return total_sq;
}

bool all_finite(const Tensor& x) { return x.numel() == 0 || reduce_sum(NonFinite{ptr(x)}, x.numel()) == 0.0; }

Tensor sum(const Tensor& x, int axis, bool keepdim) {
  const int nd = x.ndim();
  if (axis < 0) axis += nd;
  int64_t outer = 1, inner = 1, r = x.shape()[axis];
  for (int d = 0; d < axis; ++d) outer *= x.shape()[d];
  for (int d = axis + 1; d < nd; ++d) inner *= x.shape()[d];
  Shape os = x.shape();
  if (keepdim) os[axis] = 1; else os.erase(os.begin() + axis);
  Tensor out = Tensor::empty(os, Device::CUDA);
  if (out.numel() == 0) return out;
  FM_LAUNCH(sum_axis_kernel, grid_for(outer * inner), kThreads, 0, stream())(ptr(x), ptr(out), outer, r, inner);
  launched("sum");
  return out;
}

Tensor sum_trailing(const Tensor& x, int keep) {
  const Shape os(x.shape().begin(), x.shape().begin() + keep);
  const int64_t rows = shape_numel(os), n = rows ? x.numel() / rows : 0;
  Tensor out = Tensor::empty(os, Device::CUDA);
  if (rows == 0) return out;
  if (rows > 2147483647) throw std::runtime_error("sum_trailing: too many rows for one grid");
  FM_LAUNCH(row_sums_kernel, unsigned(rows), row_threads(n), 0, stream())(ptr(x), ptr(out), n);
  launched("sum_trailing");
  return out;
}

}  // namespace fm::cuda
