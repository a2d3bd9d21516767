// tensor/cpu/optim.cpp: the fused optimizer updates (tensor/ops.h): Adam / AdamW and the EMA of
// the weights, one pass over each parameter.
#include <cmath>
#include <stdexcept>

#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"

namespace fm::cpu {

void adam_update_(Tensor& param, const Tensor& grad, Tensor& m1, Tensor& m2, const AdamStep& s) {
  const int64_t n = param.numel();
  if (grad.numel() != n || m1.numel() != n || m2.numel() != n)
    throw std::runtime_error("adam_update_: parameter " + shape_str(param.shape()) + ", gradient " + shape_str(grad.shape()) +
                             " and moments differ in size");
  float* p = param.data();
  const float* g = grad.data();
  float* m = m1.data();
  float* v = m2.data();
  const bool l2 = s.l2 != 0.0f, decoupled = s.decay != 1.0f;
  parallel_for(n, grain_for(2), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      float gi = l2 ? g[i] + s.l2 * p[i] : g[i];
      if (decoupled) p[i] *= s.decay;
      m[i] = s.b1 * m[i] + (1.0f - s.b1) * gi;
      v[i] = s.b2 * v[i] + (1.0f - s.b2) * gi * gi;
      p[i] -= s.step_size * m[i] / (std::sqrt(v[i]) * s.inv_sqrt_bc2 + s.eps);
    }
  });
}

void ema_update_(Tensor& shadow, const Tensor& param, float d) {
  if (shadow.numel() != param.numel())
    throw std::runtime_error("ema_update_: shadow " + shape_str(shadow.shape()) + " vs parameter " + shape_str(param.shape()));
  float* s = shadow.data();
  const float* p = param.data();
  parallel_for(shadow.numel(), grain_for(2), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) s[i] = d * s[i] + (1.0f - d) * p[i];
  });
}

}  // namespace fm::cpu
