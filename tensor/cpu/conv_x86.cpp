// tensor/cpu/conv_x86.cpp: the AVX-512 pieces of conv.cpp's im2col / col2im and of the implicit
// GEMM's packing (conv_pack.h). x86 only: compiled only when FM_HAVE_X86_KERNELS
// (tensor/meson.build), reached through x86_kernels.h; the callers keep scalar loops that do the
// same where these are not built in or the CPU lacks AVX-512.
#if !defined(__x86_64__) && !defined(__i386__)
#error "conv_x86.cpp is x86-only; tensor/meson.build should leave it out on this host"
#endif

#include <algorithm>

#include "tensor/cpu/avx512.h"
#include "tensor/cpu/conv_pack.h"
#include "tensor/cpu/x86_kernels.h"

namespace fm::cpu::x86 {

// conv.cpp's stride 2, the downsampling convolutions: each image row is read at every other
// float. A row of up to 16 outputs is one pair of masked loads and a permute that keeps the even
// lanes (im2col), and the mirror image for col2im; conv.cpp's scalar loops are the fallback.
FM_AVX512 void copy_even_avx512(const float* src, float* dst, int64_t n) {  // dst[i] = src[2 i]
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  for (int64_t i = 0; i < n; i += 16, src += 32, dst += 16) {
    const int64_t m = std::min<int64_t>(16, n - i);  // the last read is src[2 (m - 1)]
    const __m512 a = _mm512_maskz_loadu_ps(first_lanes(2 * m - 1), src);
    const __m512 b = _mm512_maskz_loadu_ps(first_lanes(2 * m - 17), src + 16);
    _mm512_mask_storeu_ps(dst, first_lanes(m), _mm512_permutex2var_ps(a, even, b));
  }
}
FM_AVX512 void add_even_avx512(const float* src, float* dst, int64_t n) {  // dst[2 i] += src[i]
  // Lane 2 j of lo (hi) takes src[j] (src[8 + j]); the odd lanes take 0 (index 16: zero's lane 0).
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 16, 2, 16, 3, 16, 4, 16, 5, 16, 6, 16, 7, 16);
  const __m512i hi = _mm512_setr_epi32(8, 16, 9, 16, 10, 16, 11, 16, 12, 16, 13, 16, 14, 16, 15, 16);
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16, src += 16, dst += 32) {
    const int64_t m = std::min<int64_t>(16, n - i);
    const __m512 v = _mm512_maskz_loadu_ps(first_lanes(m), src);
    const __mmask16 m0 = first_lanes(2 * m - 1), m1 = first_lanes(2 * m - 17);
    _mm512_mask_storeu_ps(dst, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, dst), _mm512_permutex2var_ps(v, lo, zero)));
    _mm512_mask_storeu_ps(dst + 16, m1,
                          _mm512_add_ps(_mm512_maskz_loadu_ps(m1, dst + 16), _mm512_permutex2var_ps(v, hi, zero)));
  }
}

// One panel of Im2colPacker::pack (nr a multiple of 16): dst[k * nr + j] = col[k0 + k, j0 + j]
// for its nr columns, row by row, each 16 pixels one load masked by the tap's lanes. The panel
// (kc x nr floats, ~27 KiB) is written front to back and stays in L1, while the rows read are
// short runs of an image that sits in L2; sweeping all panels per row instead (long reads,
// scattered writes) measured 2x slower, limited by write-allocate misses.
FM_AVX512 void pack_panel_avx512(const float* x, int64_t P, int64_t taps, const int64_t* shift, const uint16_t* masks,
                                 int64_t groups, int64_t k0, int64_t kc, int64_t j0, int nr, float* dst) {
  for (int64_t k = 0; k < kc; ++k) {
    const int64_t r = k0 + k, c = r / taps, t = r % taps;
    const float* src = x + c * P + shift[t];  // src[j] = x(c, pixel j moved by the tap)
    const uint16_t* m = masks + t * groups;
    for (int g = 0; g < nr; g += 16)
      _mm512_storeu_ps(dst + k * nr + g, _mm512_maskz_loadu_ps(m[(j0 + g) / 16], src + j0 + g));
  }
}

// Im2colPacker::pack_transposed for nr a multiple of 16: for each block of 16 rows r (one 16-column slice of
// a panel) and 16 pixels, 16 masked row loads, a 16 x 16 transpose, 16 stores of one pixel each.
FM_AVX512 void pack_transposed_avx512(const Im2colPacker& pk, const float* x, int64_t P, int64_t taps,
                                      const int64_t* shift, int64_t k0, int64_t kc, int64_t j0, int64_t n, int nr,
                                      float* dst) {
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

}  // namespace fm::cpu::x86
