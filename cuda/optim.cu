// cuda/optim.cu: the fused optimizer updates, one kernel each: Adam / AdamW over a parameter and
// its moments, and the EMA of the weights: tensor/fused_math.h's expressions, as on the CPU.
#include <stdexcept>

#include "cuda/common.cuh"
#include "cuda/kernels.h"
#include "tensor/fused_math.h"

namespace fm::cuda {

namespace {

__global__ void adam_kernel(float* p, const float* g, float* m, float* v, AdamStep s, int64_t n) {
  FM_CUDA_LOOP(i, n) fused::adam(p[i], g[i], m[i], v[i], s);
}

__global__ void ema_kernel(float* shadow, const float* p, float d, int64_t n) {
  FM_CUDA_LOOP(i, n) shadow[i] = fused::ema(shadow[i], p[i], d);
}

}  // namespace

void adam_update_(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamStep& s) {
  const int64_t n = param.numel();
  if (n == 0) return;
  FM_LAUNCH(adam_kernel, grid_for(n), kThreads, 0, stream())(ptr(param), ptr(grad), ptr(m), ptr(v), s, n);
  launched("adam_update_");
}

void ema_update_(Tensor& shadow, const Tensor& param, float d) {
  if (shadow.numel() == 0) return;
  FM_LAUNCH(ema_kernel, grid_for(shadow.numel()), kThreads, 0, stream())(ptr(shadow), ptr(param), d, shadow.numel());
  launched("ema_update_");
}

}  // namespace fm::cuda
