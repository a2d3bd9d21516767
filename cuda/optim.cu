// cuda/optim.cu: the fused optimizer updates, one kernel each: Adam / AdamW over a parameter and
// its moments, and the EMA of the weights. The same expressions as tensor/cpu/optim.cpp.
#include <stdexcept>

#include "cuda/common.cuh"
#include "cuda/kernels.h"

namespace fm::cuda {

namespace {

__global__ void adam_kernel(float* p, const float* g, float* m, float* v, AdamStep s, int64_t n) {
  const bool l2 = s.l2 != 0.0f, decoupled = s.decay != 1.0f;
  FM_CUDA_LOOP(i, n) {
    const float gi = l2 ? g[i] + s.l2 * p[i] : g[i];
    float pi = decoupled ? p[i] * s.decay : p[i];
    const float mi = s.b1 * m[i] + (1.0f - s.b1) * gi;
    const float vi = s.b2 * v[i] + (1.0f - s.b2) * gi * gi;
    m[i] = mi, v[i] = vi;
    p[i] = pi - s.step_size * mi / (sqrtf(vi) * s.inv_sqrt_bc2 + s.eps);
  }
}

__global__ void ema_kernel(float* shadow, const float* p, float d, int64_t n) {
  FM_CUDA_LOOP(i, n) shadow[i] = d * shadow[i] + (1.0f - d) * p[i];
}

}  // namespace

void adam_update_(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamStep& s) {
  const int64_t n = param.numel();
  if (grad.numel() != n || m.numel() != n || v.numel() != n)
    throw std::runtime_error("adam_update_: parameter " + shape_str(param.shape()) + ", gradient " + shape_str(grad.shape()) +
                             " and moments differ in size");
  if (n == 0) return;
  FM_LAUNCH(adam_kernel, grid_for(n), kThreads, 0, stream())(ptr(param), ptr(grad), ptr(m), ptr(v), s, n);
  launched("adam_update_");
}

void ema_update_(Tensor& shadow, const Tensor& param, float d) {
  if (shadow.numel() != param.numel())
    throw std::runtime_error("ema_update_: shadow " + shape_str(shadow.shape()) + " vs parameter " + shape_str(param.shape()));
  if (shadow.numel() == 0) return;
  FM_LAUNCH(ema_kernel, grid_for(shadow.numel()), kThreads, 0, stream())(ptr(shadow), ptr(param), d, shadow.numel());
  launched("ema_update_");
}

}  // namespace fm::cuda
