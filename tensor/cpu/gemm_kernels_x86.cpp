// tensor/cpu/gemm_kernels_x86.cpp: the AVX-512 and AVX2 + FMA kernel sets behind sgemm. x86 only:
// compiled only when FM_HAVE_X86_KERNELS (tensor/meson.build), reached through x86_kernels.h.
//
// The file is compiled for baseline x86-64; the AVX2 and AVX-512 code lives in functions marked
// __attribute__((target(...))), and gemm_kernels.cpp picks these sets only after cpu_features()
// says the CPU has the instructions.
#if !defined(__x86_64__) && !defined(__i386__)
#error "gemm_kernels_x86.cpp is x86-only; tensor/meson.build should leave it out on this host"
#endif

#include <algorithm>

#include "tensor/cpu/avx512.h"
#include "tensor/cpu/gemm_kernels.h"
#include "tensor/cpu/gemm_loops.h"
#include "tensor/cpu/x86_kernels.h"

#define FM_AVX2 __attribute__((target("avx2,fma")))

namespace fm::cpu::gemm_detail {
namespace {

// ---------------------------------------------------------------------------------------------
// The micro-kernel (all three sets compute the same thing; the portable one is in gemm_kernels.cpp).
//
// For one MR x NR tile it keeps the whole product in registers, as MR rows of NV vectors:
//
//   acc[r][v] = sum_{k < kc} Ap[k*MR + r] * Bp[k*NR + v*W : k*NR + v*W + W]     (W lanes a vector)
//
// i.e. kc rank-1 updates: each k loads NV vectors of B and, for every row r, broadcasts one
// element of A and issues NV fused multiply-adds. With MR*NV accumulators + NV B vectors + one
// broadcast the register file is nearly full, and each loaded B vector feeds MR FMAs, so the loop
// is bound by the FMA ports rather than by loads. The sum over k runs in a fixed order, so a
// tile's result does not depend on which thread computes it. At the end
//   C[r][j] = alpha * acc[r][j] + beta * C[r][j]        (C not read when beta == 0).
// ---------------------------------------------------------------------------------------------

// AVX-512: MR x (16*NV); edge columns use masked loads/stores, edge rows are skipped.
template <int MR, int NV>
FM_AVX512 void micro_avx512(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                            float alpha, float beta, int m, int n) {
  __m512 acc[MR][NV];
  zero_tile<MR, NV>(acc);
  // Start fetching the C tile now; it is needed only after the k loop.
  for (int r = 0; r < m; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + 16 * NV - 1), _MM_HINT_T0);
  }

#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k) {
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(b + 16 * v);
    rank1_update<MR, NV>(acc, a, bv);
    a += MR;
    b += 16 * NV;
  }

  __mmask16 mask[NV];
  for (int v = 0; v < NV; ++v) {
    int rem = n - 16 * v;
    mask[v] = rem >= 16 ? 0xFFFF : rem <= 0 ? 0 : __mmask16((1u << rem) - 1);
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    if (r >= m) break;
    float* cr = c + r * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      __m512 x = _mm512_mul_ps(va, acc[r][v]);
      if (beta != 0.0f) x = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask[v], cr + 16 * v), x);
      _mm512_mask_storeu_ps(cr + 16 * v, mask[v], x);
    }
  }
}

// AVX2 + FMA: MR x (8*NV); edge tiles go through a stack tile and the scalar epilogue.
template <int MR, int NV>
FM_AVX2 void micro_avx2(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                        float alpha, float beta, int m, int n) {
  __m256 acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_ps();

#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k) {
    __m256 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm256_load_ps(b + 8 * v);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      __m256 ar = _mm256_broadcast_ss(a + r);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(ar, bv[v], acc[r][v]);
    }
    a += MR;
    b += 8 * NV;
  }

  if (m == MR && n == 8 * NV) {
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        float* cv = c + r * ldc + 8 * v;
        __m256 x = _mm256_mul_ps(va, acc[r][v]);
        if (beta != 0.0f) x = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cv), x);
        _mm256_storeu_ps(cv, x);
      }
    return;
  }
  alignas(32) float t[MR * 8 * NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) _mm256_store_ps(t + r * 8 * NV + 8 * v, acc[r][v]);
  update_tile(t, 8 * NV, c, ldc, alpha, beta, m, n);
}

// AVX-512 packing (see PackBlock): masked loads supply the zero padding; the transposing case
// moves 16 x 16 blocks through registers, about twice as fast as the scalar loop (the AVX2 set
// uses that loop, gemm_kernels.cpp's pack_generic).
FM_AVX512 void pack_avx512(bool k_major, const float* src, int64_t ld, int64_t rows, int64_t kc,
                           int width, float* dst) {
  if (k_major) {
    for (int64_t k = 0; k < kc; ++k)
      for (int64_t p = 0; p < rows; p += width)
        for (int g = 0; g < width; g += 16)
          _mm512_mask_storeu_ps(dst + p * kc + k * width + g, first_lanes(width - g),
                                _mm512_maskz_loadu_ps(first_lanes(rows - p - g), src + k * ld + p + g));
    return;
  }
  for (int64_t p = 0; p < rows; p += width)
    for (int g = 0; g < width; g += 16) {  // rows p+g .. p+g+15 of the source
      for (int64_t k0 = 0; k0 < kc; k0 += 16) {
        const __mmask16 kmask = first_lanes(kc - k0);
        __m512 x[16];
        for (int r = 0; r < 16; ++r)
          x[r] = p + g + r < rows ? _mm512_maskz_loadu_ps(kmask, src + (p + g + r) * ld + k0)
                                  : _mm512_setzero_ps();
        transpose16(x);
        const int64_t kn = std::min<int64_t>(16, kc - k0);
        for (int64_t k = 0; k < kn; ++k)
          _mm512_mask_storeu_ps(dst + p * kc + (k0 + k) * width + g, first_lanes(width - g), x[k]);
      }
    }
}

// The small-shape kernels (gemm_loops.h) for each set.
// Widths: for NS = 4, 4 x kW / (lanes per vector) accumulators must fit in the register file.
FM_AVX512 void dot_avx512(const SmallGemm& g, int64_t l0, int64_t l1) { dot_body<32>(g, l0, l1); }
FM_AVX512 void axpy_avx512(const SmallGemm& g, int64_t l0, int64_t l1) { axpy_body<64>(g, l0, l1); }
FM_AVX2 void dot_avx2(const SmallGemm& g, int64_t l0, int64_t l1) { dot_body<16>(g, l0, l1); }
FM_AVX2 void axpy_avx2(const SmallGemm& g, int64_t l0, int64_t l1) { axpy_body<24>(g, l0, l1); }

}  // namespace

// Tiles and block sizes (see the scheme at the top of gemm.cpp), measured on the 2-core
// AVX-512 Xeon this was written on:
//  - 14 x 32 uses 28 of the 32 zmm registers as accumulators and needs 16 loads (2 of B, 14
//    broadcasts of A) per 28 FMAs: the best at 1024^3. But a convolution's M is its channel
//    count (16, 32, 64, 96), where 14-row tiles pad away up to 43 %; 8 x 48 (24 accumulators,
//    3 + 8 loads per 24 FMAs) and 8 x 32 divide those exactly.
//  - kc = 256: the 32 KiB B micro-panel stays in the 48 KiB L1 with a 14 KiB A micro-panel; it
//    beat 128, 192 and 384 by 5-10% (fewer passes over C).
//  - mc = 336 rows: a 336 KiB A~ block, well inside the 2 MiB L2 next to B~.
//  - AVX2 (16 ymm registers): 6 x 16, 12 accumulators. Portable: 4 x 8 (gemm_kernels.cpp).
const KernelSet kAvx512 = {"avx512",
                           {{14, 32, 14 * 24, micro_avx512<14, 2>, 1.0},
                            {8, 48, 8 * 42, micro_avx512<8, 3>, 0.95},
                            {8, 32, 8 * 42, micro_avx512<8, 2>, 0.85}},
                           3, 256, 4096, pack_avx512, dot_avx512, axpy_avx512};
const KernelSet kAvx2 = {"avx2", {{6, 16, 6 * 48, micro_avx2<6, 2>, 1.0}}, 1, 256, 4096,
                         pack_generic, dot_avx2, axpy_avx2};

}  // namespace fm::cpu::gemm_detail
