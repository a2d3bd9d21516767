// tensor/cpu/optim.cpp: the fused optimizer updates (tensor/ops.h): Adam / AdamW and the EMA of
// the weights, one pass over each parameter.
#include <cmath>
#include <stdexcept>

#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"
#include "tensor/fused_math.h"

namespace fm::cpu {

void adam_update_(Tensor& param, const Tensor& grad, Tensor& m1, Tensor& m2, const AdamStep& s) {
  const int64_t n = param.numel();
  float* p = param.data();
  const float* g = grad.data();
  float* m = m1.data();
  float* v = m2.data();
  parallel_for(n, grain_for(2), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) fused::adam(p[i], g[i], m[i], v[i], s);
  });
}

void ema_update_(Tensor& shadow, const Tensor& param, float d) {
  float* s = shadow.data();
  const float* p = param.data();
  parallel_for(shadow.numel(), grain_for(2), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) s[i] = fused::ema(s[i], p[i], d);
  });
}

}  // namespace fm::cpu
