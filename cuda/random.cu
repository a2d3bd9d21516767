// cuda/random.cu: the random fills on the GPU. Thread b computes Philox block base + b and writes
// elements 4b..4b+3 with tensor/philox.h's expressions: the same numbers as the CPU fill of the
// same stream position (the double math of Box-Muller may differ from glibc's in the last bit of
// a rare value; the uniform and Rademacher fills are bit for bit the CPU's).
#include "cuda/common.cuh"
#include "cuda/kernels.h"
#include "tensor/philox.h"

namespace fm::cuda {

namespace {

__global__ void uniform_kernel(float* d, int64_t n, uint64_t seed, uint64_t base, float lo, float hi) {
  FM_CUDA_LOOP(b, (n + 3) / 4) {
    const PhiloxWords r = philox_block(seed, base + uint64_t(b));
    for (int j = 0; j < 4 && 4 * b + j < n; ++j) d[4 * b + j] = uniform_from(r.w[j], lo, hi);
  }
}

__global__ void normal_kernel(float* d, int64_t n, uint64_t seed, uint64_t base, float mean, float stddev) {
  FM_CUDA_LOOP(b, (n + 3) / 4) {
    const PhiloxWords r = philox_block(seed, base + uint64_t(b));
    for (int pair = 0; pair < 2; ++pair) {
      double z1, z2;
      normal_pair(r.w[2 * pair], r.w[2 * pair + 1], z1, z2);
      const int64_t i = 4 * b + 2 * pair;
      if (i < n) d[i] = mean + stddev * static_cast<float>(z1);
      if (i + 1 < n) d[i + 1] = mean + stddev * static_cast<float>(z2);
    }
  }
}

__global__ void rademacher_kernel(float* d, int64_t n, uint64_t seed, uint64_t base) {
  FM_CUDA_LOOP(b, (n + 3) / 4) {
    const PhiloxWords r = philox_block(seed, base + uint64_t(b));
    for (int j = 0; j < 4 && 4 * b + j < n; ++j) d[4 * b + j] = rademacher_from(r.w[j]);
  }
}

}  // namespace

void philox_uniform(Tensor& t, uint64_t seed, uint64_t base, float lo, float hi) {
  if (t.numel() == 0) return;
  uniform_kernel<<<grid_for((t.numel() + 3) / 4), kThreads, 0, stream()>>>(ptr(t), t.numel(), seed, base, lo, hi);
  launched("philox_uniform");
}

void philox_normal(Tensor& t, uint64_t seed, uint64_t base, float mean, float stddev) {
  if (t.numel() == 0) return;
  normal_kernel<<<grid_for((t.numel() + 3) / 4), kThreads, 0, stream()>>>(ptr(t), t.numel(), seed, base, mean, stddev);
  launched("philox_normal");
}

void philox_rademacher(Tensor& t, uint64_t seed, uint64_t base) {
  if (t.numel() == 0) return;
  rademacher_kernel<<<grid_for((t.numel() + 3) / 4), kThreads, 0, stream()>>>(ptr(t), t.numel(), seed, base);
  launched("philox_rademacher");
}

}  // namespace fm::cuda
