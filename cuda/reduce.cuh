// cuda/reduce.cuh: the deterministic sum behind every reduction of the CUDA backend. A fixed grid
// (kBlocks x kThreads, independent of the GPU) where thread t of block b adds the values
// i = (b * kThreads + t) + k * kBlocks * kThreads in double, each block folds its threads in a
// fixed tree, and one block folds the block partials the same way: the same order on every run,
// no float atomics. Included only by cuda/*.cu.
#pragma once
#include "cuda/common.cuh"

namespace fm::cuda {

constexpr int kReduceBlocks = 256;
// The scratch's layout, in doubles: the block partials, then result slots.
constexpr int kResultSlot = kReduceBlocks;      // reduce_sum's result
constexpr int kPartSlots = kReduceBlocks + 8;   // up to kMaxParts per-part sums (mixed norms)
constexpr int kMaxParts = 32;
constexpr int kReduceScratch = kPartSlots + kMaxParts + 8;

// Folds the blockDim.x values of `shared` (a power of two, at most kThreads) into shared[0], in a
// fixed tree.
__device__ inline void fold_block(double* shared) {
  for (int s = int(blockDim.x) / 2; s > 0; s /= 2) {
    __syncthreads();
    if (int(threadIdx.x) < s) shared[threadIdx.x] += shared[threadIdx.x + s];
  }
  __syncthreads();
}

// Threads for a block that folds a row of n values: the power of two from 32 to kThreads that
// gives each thread a value where it can (a short row does not make idle threads wait at every
// level of the fold). A function of the shape alone, so the summation order still never changes.
inline unsigned row_threads(int64_t n) {
  unsigned t = 32;
  while (t < unsigned(kThreads) && int64_t(t) < n) t *= 2;
  return t;
}

template <class Value>
__global__ void reduce_partials(Value value, int64_t n, double* partials) {
  __shared__ double shared[kThreads];
  double acc = 0.0;
  for (int64_t i = blockIdx.x * int64_t(kThreads) + threadIdx.x; i < n; i += int64_t(kReduceBlocks) * kThreads)
    acc += value(i);
  shared[threadIdx.x] = acc;
  fold_block(shared);
  if (threadIdx.x == 0) partials[blockIdx.x] = shared[0];
}

// One block folds the kReduceBlocks partials into *out, or onto it with `add` (a sum over several
// tensors, in their order). Defined in reduce.cu.
__global__ void reduce_final(const double* partials, double* out, bool add);

// Scratch for the partials and the result: allocated once (the reductions run in stream order).
double* reduce_scratch();

// sum_i value(i) over [0, n) into device memory at `out` (no host transfer).
template <class Value>
void reduce_sum_device(const Value& value, int64_t n, double* out) {
  double* partials = reduce_scratch();
  FM_LAUNCH(reduce_partials, kReduceBlocks, kThreads, 0, stream())(value, n, partials);
  FM_LAUNCH(reduce_final, 1, kThreads, 0, stream())(partials, out, false);
  launched("reduce");
}

// The same, brought to the host (one device-to-host transfer, which waits for the stream).
template <class Value>
double reduce_sum(const Value& value, int64_t n) {
  double* out = reduce_scratch() + kResultSlot;
  reduce_sum_device(value, n, out);
  double host = 0.0;
  check(cudaMemcpyAsync(&host, out, sizeof host, cudaMemcpyDeviceToHost, stream()), "reduce: cudaMemcpyAsync");
  check(cudaStreamSynchronize(stream()), "reduce: cudaStreamSynchronize");
  return host;
}

}  // namespace fm::cuda
