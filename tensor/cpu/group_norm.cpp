// tensor/cpu/group_norm.cpp: group normalisation, optionally fused with the SiLU that follows it in
// every U-Net block (see tensor/cpu/conv.h for the maths).
//
// One (sample, group) is a contiguous block of n = C/G x H x W floats, handled by one thread:
// statistics by 16-lane sums (tensor/cpu/lanes.h), then row loops per channel compiled for AVX-512 /
// AVX2 / baseline (the SiLU ones by hand for AVX-512: group_norm_x86.cpp). Fusing SiLU saves
// writing the normalised tensor and reading it back in both directions, and an activation-sized
// temporary per block.
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensor/activation.h"
#include "tensor/cpu/cpu_features.h"
#include "tensor/cpu/gemm_kernels.h"
#include "tensor/cpu/kernels.h"
#include "tensor/cpu/lanes.h"
#include "tensor/cpu/parallel.h"
#include "tensor/cpu/simd.h"
#include "tensor/cpu/x86_kernels.h"

namespace fm::cpu {

namespace {

// y = x a + b, and y = silu(x a + b): one channel, with a = rstd gamma, b = beta - mean a.
FM_SIMD_CLONES void affine_row(const float* x, float a, float b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * a + b;
}
FM_SIMD_CLONES void affine_silu_row(const float* x, float a, float b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = act::Silu::f(x[i] * a + b);
}
// One pass over a channel for the backward sums: s1 = sum g, s2 = sum g (x - m), where g is the
// gradient reaching the normalised value: dy itself, or with SiLU dy silu'(z), z = x a + b, which
// is also written out for dx_row. 16-lane partial sums, in an order that depends on n only.
template <bool kSilu>
inline void grad_sums(const float* x, const float* dy, float m, float a, float b, float* g, int64_t n, double& s1,
                      double& s2) {
  constexpr int kLanes = 16;
  float p1[kLanes] = {}, p2[kLanes] = {};
  auto grad = [&](int64_t i) { return kSilu ? dy[i] * act::Silu::df(x[i] * a + b, 0.0f) : dy[i]; };
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) {
      const float gv = grad(i + j);
      if (kSilu) g[i + j] = gv;
      p1[j] += gv;
      p2[j] += gv * (x[i + j] - m);
    }
  s1 = s2 = 0.0;
  for (int j = 0; j < kLanes; ++j) s1 += p1[j], s2 += p2[j];
  for (; i < n; ++i) {
    const float gv = grad(i);
    if (kSilu) g[i] = gv;
    s1 += gv, s2 += double(gv) * (x[i] - m);
  }
}
FM_SIMD_CLONES void grad_sums_plain(const float* x, const float* dy, float m, int64_t n, double& s1, double& s2) {
  grad_sums<false>(x, dy, m, 0.0f, 0.0f, nullptr, n, s1, s2);
}
FM_SIMD_CLONES void grad_sums_silu(const float* x, const float* dy, float m, float a, float b, float* g, int64_t n,
                                   double& s1, double& s2) {
  grad_sums<true>(x, dy, m, a, b, g, n, s1, s2);
}
// dx (+)= r (gamma g - mean1 - (x - m) r mean2)
FM_SIMD_CLONES void dx_row(const float* g, const float* x, float m, float r, float gamma, float mean1, float mean2,
                           float* dx, float beta, int64_t n) {
  const float c0 = r * gamma, c1 = -r * mean1, c2 = -r * r * mean2;
  if (beta == 0.0f)
    for (int64_t i = 0; i < n; ++i) dx[i] = c0 * g[i] + c1 + (x[i] - m) * c2;
  else
    for (int64_t i = 0; i < n; ++i) dx[i] += c0 * g[i] + c1 + (x[i] - m) * c2;
}

inline void store(float& out, float beta, float v) { out = beta == 0.0f ? v : out + v; }

// The SiLU loops by hand with AVX-512 (group_norm_x86.cpp says why), unless the sgemm kernels are
// forced to another set: the tests' switch for every hand-written path.
bool avx512_loops() { return kHaveX86Kernels && gemm_detail::avx512_active(); }
void silu_row(bool avx512, const float* x, float a, float b, float* y, int64_t n) {
  if constexpr (kHaveX86Kernels)
    if (avx512) return x86::affine_silu_avx512(x, a, b, y, n);
  affine_silu_row(x, a, b, y, n);
}
void silu_grad_sums(bool avx512, const float* x, const float* dy, float m, float a, float b, float* g, int64_t n,
                    double& s1, double& s2) {
  if constexpr (kHaveX86Kernels)
    if (avx512) return x86::grad_sums_silu_avx512(x, dy, m, a, b, g, n, s1, s2);
  grad_sums_silu(x, dy, m, a, b, g, n, s1, s2);
}

}  // namespace

Tensor group_norm_forward(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps,
                          Tensor& mean, Tensor& rstd, bool silu) {
  const GroupNormShape s = group_norm_shape(x, groups, gamma, beta);
  const int64_t n = s.cpg * s.hw;
  Tensor y = Tensor::empty(x.shape());
  mean = Tensor::empty({s.B, s.G});
  rstd = Tensor::empty({s.B, s.G});
  const float *px = x.data(), *pga = gamma.defined() ? gamma.data() : nullptr, *pbe = beta.defined() ? beta.data() : nullptr;
  float *py = y.data(), *pm = mean.data(), *pr = rstd.data();
  const bool avx512 = avx512_loops();
  parallel_for(s.B * s.G, grain_for(4 * n), [&](int64_t lo, int64_t hi) {
    for (int64_t bg = lo; bg < hi; ++bg) {
      const float* xg = px + bg * n;
      // Two passes: the mean, then the biased variance around it (no cancellation).
      const float m = float(lane_sum(xg, n) / double(n));
      const double ss = lane_sumsq_centered(xg, m, n);
      const float r = float(1.0 / std::sqrt(ss / double(n) + eps));
      pm[bg] = m;
      pr[bg] = r;
      for (int64_t cc = 0; cc < s.cpg; ++cc) {  // y = (x - m) r gamma + beta = x a + b, channel by channel
        const int64_t c = (bg % s.G) * s.cpg + cc;
        const float a = r * (pga ? pga[c] : 1.0f), b = (pbe ? pbe[c] : 0.0f) - m * a;
        if (silu)
          silu_row(avx512, xg + cc * s.hw, a, b, py + bg * n + cc * s.hw, s.hw);
        else
          affine_row(xg + cc * s.hw, a, b, py + bg * n + cc * s.hw, s.hw);
      }
    }
  });
  return y;
}

void group_norm_backward(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                         const Tensor& rstd, const Tensor& dy, bool silu, Tensor* dx, float beta_x, Tensor* dgamma,
                         float beta_g, Tensor* dbeta, float beta_b) {
  const GroupNormShape s = group_norm_shape(x, groups, gamma, silu ? beta : Tensor());
  const int64_t n = s.cpg * s.hw;
  // Per (sample, channel): s1 = sum g, s2 = sum g xhat, g the gradient reaching gamma xhat + beta.
  // Summed over the batch in order below.
  std::vector<double> s1(s.B * s.C), s2(s.B * s.C);
  const float *px = x.data(), *pg = dy.data(), *pga = gamma.defined() ? gamma.data() : nullptr;
  const float *pbe = beta.defined() ? beta.data() : nullptr, *pm = mean.data(), *pr = rstd.data();
  const bool avx512 = avx512_loops();
  parallel_for(s.B * s.G, grain_for(4 * n), [&](int64_t lo, int64_t hi) {
    float* gbuf = silu ? thread_scratch(n) : nullptr;  // g of one group, when SiLU changes dy
    for (int64_t bg = lo; bg < hi; ++bg) {
      const float m = pm[bg], r = pr[bg];
      const int64_t c0 = (bg % s.G) * s.cpg, bc0 = (bg / s.G) * s.C + c0;
      const float* g = silu ? gbuf : pg + bg * n;
      double m1 = 0.0, m2 = 0.0;  // sums of dxhat and dxhat xhat over the group
      for (int64_t cc = 0; cc < s.cpg; ++cc) {
        const int64_t off = cc * s.hw;
        const float ga = pga ? pga[c0 + cc] : 1.0f;
        double sum_g, sum_gx;
        if (silu) {
          const float a = r * ga, b = (pbe ? pbe[c0 + cc] : 0.0f) - m * a;
          silu_grad_sums(avx512, px + bg * n + off, pg + bg * n + off, m, a, b, gbuf + off, s.hw, sum_g, sum_gx);
        } else {
          grad_sums_plain(px + bg * n + off, pg + bg * n + off, m, s.hw, sum_g, sum_gx);
        }
        s1[bc0 + cc] = sum_g;
        s2[bc0 + cc] = sum_gx * r;
        m1 += double(ga) * s1[bc0 + cc];
        m2 += double(ga) * s2[bc0 + cc];
      }
      if (!dx) continue;
      const float mean1 = float(m1 / double(n)), mean2 = float(m2 / double(n));
      for (int64_t cc = 0; cc < s.cpg; ++cc) {
        const int64_t off = cc * s.hw;
        dx_row(g + off, px + bg * n + off, m, r, pga ? pga[c0 + cc] : 1.0f, mean1, mean2, dx->data() + bg * n + off,
               beta_x, s.hw);
      }
    }
  });
  for (int64_t c = 0; c < s.C; ++c) {
    double a1 = 0.0, a2 = 0.0;
    for (int64_t b = 0; b < s.B; ++b) a1 += s1[b * s.C + c], a2 += s2[b * s.C + c];
    if (dgamma) store(dgamma->data()[c], beta_g, float(a2));
    if (dbeta) store(dbeta->data()[c], beta_b, float(a1));
  }
}

}  // namespace fm::cpu
