// cuda/random.cu: the random fills on the GPU. A fill that starts at stream word `first` gives
// element i the word first + i, as on the CPU (tensor/cpu/random_fill.cpp): thread b computes the
// Philox block b0 + b (b0 = first / 4) and writes the elements of its 4 words with tensor/philox.h's
// expressions, so the numbers are the CPU fill's of the same stream position (the double math of
// Box-Muller may differ from glibc's in the last bit of a rare value; the uniform and Rademacher
// fills are bit for bit the CPU's).
#include "cuda/common.cuh"
#include "cuda/kernels.h"
#include "tensor/philox.h"

namespace fm::cuda {

namespace {

// The blocks covering elements [0, n) of a fill from word `first`.
__host__ __device__ int64_t blocks_of(uint64_t first, int64_t n) { return static_cast<int64_t>((first + uint64_t(n) + 3) / 4 - first / 4); }

// Element of lane 0 of block b of the fill (negative in block 0 when first % 4 != 0).
__device__ int64_t lane0(uint64_t first, int64_t b) { return static_cast<int64_t>(4 * (first / 4 + uint64_t(b)) - first); }

__global__ void uniform_kernel(float* d, int64_t n, uint64_t seed, uint64_t first, float lo, float hi) {
  FM_CUDA_LOOP(b, blocks_of(first, n)) {
    const PhiloxWords r = philox_block(seed, first / 4 + uint64_t(b));
    const int64_t i0 = lane0(first, b);
    for (int j = 0; j < 4; ++j)
      if (i0 + j >= 0 && i0 + j < n) d[i0 + j] = uniform_from(r.w[j], lo, hi);
  }
}

__global__ void normal_kernel(float* d, int64_t n, uint64_t seed, uint64_t first, float mean, float stddev) {
  FM_CUDA_LOOP(b, blocks_of(first, n)) {
    const PhiloxWords r = philox_block(seed, first / 4 + uint64_t(b));
    const int64_t i0 = lane0(first, b);
    for (int pair = 0; pair < 2; ++pair) {
      double z1, z2;
      normal_pair(r.w[2 * pair], r.w[2 * pair + 1], z1, z2);
      const int64_t i = i0 + 2 * pair;
      if (i >= 0 && i < n) d[i] = mean + stddev * static_cast<float>(z1);
      if (i + 1 >= 0 && i + 1 < n) d[i + 1] = mean + stddev * static_cast<float>(z2);
    }
  }
}

__global__ void rademacher_kernel(float* d, int64_t n, uint64_t seed, uint64_t first) {
  FM_CUDA_LOOP(b, blocks_of(first, n)) {
    const PhiloxWords r = philox_block(seed, first / 4 + uint64_t(b));
    const int64_t i0 = lane0(first, b);
    for (int j = 0; j < 4; ++j)
      if (i0 + j >= 0 && i0 + j < n) d[i0 + j] = rademacher_from(r.w[j]);
  }
}

}  // namespace

void philox_uniform(Tensor& t, uint64_t seed, uint64_t first, float lo, float hi) {
  if (t.numel() == 0) return;
  FM_LAUNCH(uniform_kernel, grid_for(blocks_of(first, t.numel())), kThreads, 0, stream())(ptr(t), t.numel(), seed, first, lo, hi);
  launched("philox_uniform");
}

void philox_normal(Tensor& t, uint64_t seed, uint64_t first, float mean, float stddev) {
  if (t.numel() == 0) return;
  FM_LAUNCH(normal_kernel, grid_for(blocks_of(first, t.numel())), kThreads, 0, stream())(ptr(t), t.numel(), seed, first, mean, stddev);
  launched("philox_normal");
}

void philox_rademacher(Tensor& t, uint64_t seed, uint64_t first) {
  if (t.numel() == 0) return;
  FM_LAUNCH(rademacher_kernel, grid_for(blocks_of(first, t.numel())), kThreads, 0, stream())(ptr(t), t.numel(), seed, first);
  launched("philox_rademacher");
}

}  // namespace fm::cuda
