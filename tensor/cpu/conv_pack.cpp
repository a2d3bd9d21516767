// tensor/cpu/conv_pack.cpp
//
// With AVX-512 a panel whose width is a multiple of 16 goes through masked vector loads
// (x86::pack_panel_avx512 / pack_transposed_avx512, conv_x86.cpp); the scalar loops here do the
// same one lane at a time, for the portable set's 8-wide panels and on other CPUs.
#include "tensor/cpu/conv_pack.h"

#include <algorithm>

#include "tensor/cpu/cpu_features.h"
#include "tensor/cpu/x86_kernels.h"

namespace fm::cpu {

Im2colPacker::Im2colPacker(const Conv2dShape& s) : taps_(s.k * s.k), P_(s.Ho * s.Wo) {
  // Enough groups for the last panel of any tile up to 48 columns wide (zero past P).
  groups_ = (P_ + 15) / 16 + 3;
  shift_.resize(taps_);
  masks_.assign(taps_ * groups_, 0);
  for (int64_t ki = 0; ki < s.k; ++ki)
    for (int64_t kj = 0; kj < s.k; ++kj) {
      const int64_t t = ki * s.k + kj;
      shift_[t] = (ki - s.pad) * s.W + (kj - s.pad);
      for (int64_t p = 0; p < P_; ++p) {
        const int64_t ih = p / s.Wo + ki - s.pad, iw = p % s.Wo + kj - s.pad;
        if (ih >= 0 && ih < s.H && iw >= 0 && iw < s.W) masks_[t * groups_ + p / 16] |= uint16_t(1u << (p % 16));
      }
    }
}

void Im2colPacker::pack(const float* x, int64_t k0, int64_t kc, int64_t j0, int64_t n, int nr, float* dst) const {
  const bool avx512 = cpu_features().avx512f && nr % 16 == 0;
  for (int64_t q = 0; q * nr < n; ++q) {
    float* d = dst + q * nr * kc;
    const int64_t jq = j0 + q * nr;
    if constexpr (kHaveX86Kernels)
      if (avx512) {
        x86::pack_panel_avx512(x, P_, taps_, shift_.data(), masks_.data(), groups_, k0, kc, jq, nr, d);
        continue;
      }
    for (int64_t k = 0; k < kc; ++k) {  // the same, one lane at a time
      const int64_t r = k0 + k, c = r / taps_, t = r % taps_;
      for (int i = 0; i < nr; ++i) d[k * nr + i] = valid(t, jq + i) ? x[c * P_ + jq + i + shift_[t]] : 0.0f;
    }
  }
}

void Im2colPacker::pack_transposed(const float* x, int64_t k0, int64_t kc, int64_t j0, int64_t n, int nr,
                                   float* dst) const {
  if constexpr (kHaveX86Kernels)
    if (cpu_features().avx512f && nr % 16 == 0) {
      x86::pack_transposed_avx512(*this, x, P_, taps_, shift_.data(), k0, kc, j0, n, nr, dst);
      return;
    }
  for (int64_t q = 0; q * nr < n; ++q)
    for (int64_t k = 0; k < kc; ++k)
      for (int i = 0; i < nr; ++i) {
        const int64_t j = q * nr + i, r = j0 + j, p = k0 + k;
        float v = 0.0f;
        if (j < n) {
          const int64_t c = r / taps_, t = r % taps_;
          if (valid(t, p)) v = x[c * P_ + p + shift_[t]];
        }
        dst[q * nr * kc + k * nr + i] = v;
      }
}

}  // namespace fm::cpu
