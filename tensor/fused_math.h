// tensor/fused_math.h: the per-element math of the fused ops (tensor/ops.h), written once as
// __host__ __device__ functions that both backends' loops call (tensor/cpu/, cuda/): Adam and
// AdamW, the EMA, the dropout mask, the path's two affine maps, and the Runge-Kutta combination and
// error terms. Each is the whole expression for element i, so the devices compute the same one.
#pragma once
#include <cmath>
#include <cstdint>

#include "tensor/activation.h"  // FM_HD
#include "tensor/ops.h"         // AdamStep

namespace fm::fused {

// Adam, or AdamW (s.decay != 1), on one parameter p with gradient g and moments m, v (in place):
//   g += l2 p;  p *= decay;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//   p -= step_size m / (sqrt(v) inv_sqrt_bc2 + eps)
FM_HD inline void adam(float& p, float g, float& m, float& v, const AdamStep& s) {
  const float gi = s.l2 != 0.0f ? g + s.l2 * p : g;
  const float pd = s.decay != 1.0f ? p * s.decay : p;
  m = s.b1 * m + (1.0f - s.b1) * gi;
  v = s.b2 * v + (1.0f - s.b2) * gi * gi;
  p = pd - s.step_size * m / (sqrtf(v) * s.inv_sqrt_bc2 + s.eps);
}

// The EMA of a weight: d shadow + (1 - d) p.
FM_HD inline float ema(float shadow, float p, float d) { return d * shadow + (1.0f - d) * p; }

// Inverted dropout's mask from u ~ U[0, 1): keep = 1 / (1 - p) where u >= p, else 0.
FM_HD inline float dropout_mask(float u, float p, float keep) { return u >= p ? keep : 0.0f; }
inline float dropout_keep(float p) { return p < 1.0f ? 1.0f / (1.0f - p) : 0.0f; }

// The path's two affine maps of one element of sample i, c = coef[i, 0..3]:
//   xt = c0 x0 + c1 x1,  ut = c2 x0 + c3 x1.
FM_HD inline void path_mix(const float* c, float x0, float x1, float& xt, float& ut) {
  xt = c[0] * x0 + c[1] * x1;
  ut = c[2] * x0 + c[3] * x1;
}

// out[i] = y0[i] + sum_j w[j] k[j][i], accumulated in double and rounded once.
FM_HD inline float rk_combine(float y0, const double* w, const float* const* k, int terms, int64_t i) {
  double acc = 0.0;
  for (int j = 0; j < terms; ++j) acc += w[j] * double(k[j][i]);
  return float(double(y0) + acc);
}

// dopri5's scaled error of element i: (sum_j e[j] k[j][i]) / (atol + rtol max(|y0|, |y1|)); a NaN
// y0 makes it NaN.
FM_HD inline double rk_error(float y0, float y1, const double* e, const float* const* k, int terms, int64_t i, double atol,
                             double rtol) {
  double err = 0.0;
  for (int j = 0; j < terms; ++j) err += e[j] * double(k[j][i]);
  const double a = fabs(double(y0)), b = fabs(double(y1));
  return err / (atol + rtol * (a < b ? b : a));
}

// (a - b) / (atol + rtol |ref|), or a / (...) without b: an element of a scaled norm.
FM_HD inline double scaled(float a, const float* b, float ref, int64_t i, double atol, double rtol) {
  return (b ? double(a) - b[i] : double(a)) / (atol + rtol * fabs(double(ref)));
}

}  // namespace fm::fused
