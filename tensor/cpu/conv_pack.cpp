// tensor/cpu/conv_pack.cpp
#include "tensor/cpu/conv_pack.h"

#include <algorithm>

#include "tensor/cpu/avx512.h"

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

namespace {

// One panel: dst[k * nr + j] = col[k0 + k, j0 + j] for its nr columns, row by row. The panel
// (kc x nr floats, ~27 KiB) is written front to back and stays in L1, while the rows read are
// short runs of an image that sits in L2; sweeping all panels per row instead (long reads,
// scattered writes) measured 2x slower, limited by write-allocate misses.
FM_AVX512 void pack_panel_avx512(const float* x, int64_t P, int64_t taps, const int64_t* shift,
                                 const uint16_t* masks, int64_t groups, int64_t k0, int64_t kc, int64_t j0,
                                 int nr, float* dst) {
  for (int64_t k = 0; k < kc; ++k) {
    const int64_t r = k0 + k, c = r / taps, t = r % taps;
    const float* src = x + c * P + shift[t];  // src[j] = x(c, pixel j moved by the tap)
    const uint16_t* m = masks + t * groups;
    for (int g = 0; g < nr; g += 16)
      _mm512_storeu_ps(dst + k * nr + g, _mm512_maskz_loadu_ps(m[(j0 + g) / 16], src + j0 + g));
  }
}

// pack_transposed for nr a multiple of 16: for each block of 16 rows r (one 16-column slice of
// a panel) and 16 pixels, 16 masked row loads, a 16 x 16 transpose, 16 stores of one pixel each.
FM_AVX512 void pack_transposed_avx512(const Im2colPacker& pk, const float* x, int64_t P, int64_t taps,
                                      const int64_t* shift, int64_t k0, int64_t kc, int64_t j0, int64_t n,
                                      int nr, float* dst) {
  for (int64_t jb = 0; jb < (n + nr - 1) / nr * nr; jb += 16) {  // 16 rows: j0 + jb ...
    float* d = dst + jb / nr * nr * kc + jb % nr;                  // their slice of the panel
    for (int64_t kb = 0; kb < kc; kb += 16) {
      const __mmask16 kmask = first_lanes(kc - kb);
      __m512 v[16];
      for (int i = 0; i < 16; ++i) {
        const int64_t r = j0 + jb + i;
        if (jb + i >= n) {
          v[i] = _mm512_setzero_ps();
          continue;
        }
        const int64_t c = r / taps, t = r % taps, p = k0 + kb;
        v[i] = _mm512_maskz_loadu_ps(__mmask16(kmask & pk.lanes(t, p)), x + c * P + p + shift[t]);
      }
      transpose16(v);
      for (int64_t k = 0; k < std::min<int64_t>(16, kc - kb); ++k) _mm512_storeu_ps(d + (kb + k) * nr, v[k]);
    }
  }
}

}  // namespace

void Im2colPacker::pack(const float* x, int64_t k0, int64_t kc, int64_t j0, int64_t n, int nr, float* dst) const {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  for (int64_t q = 0; q * nr < n; ++q) {
    float* d = dst + q * nr * kc;
    const int64_t jq = j0 + q * nr;
    if (avx512 && nr % 16 == 0) {
      pack_panel_avx512(x, P_, taps_, shift_.data(), masks_.data(), groups_, k0, kc, jq, nr, d);
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
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512 && nr % 16 == 0) {
    pack_transposed_avx512(*this, x, P_, taps_, shift_.data(), k0, kc, j0, n, nr, dst);
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
