// tensor/cpu/avx512.h: small AVX-512 helpers shared by the x86 kernels. x86 only: include it only
// from the x86-only files (*_x86.cpp), whose AVX-512 functions are marked FM_AVX512 and called
// after cpu_features() says the CPU has AVX-512 (cpu_features.h).
#pragma once

// GCC 12's AVX-512 shuffle intrinsics trip a false -Wmaybe-uninitialized (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>

#define FM_AVX512 __attribute__((target("avx512f")))

namespace fm::cpu {

// A mask of the first n of 16 lanes (n clamped to [0, 16]).
FM_AVX512 inline __mmask16 first_lanes(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

// In place: x[r] holds row r of a 16 x 16 block, afterwards x[c] holds its column c. Interleave
// single floats, then pairs, then 128-bit quarters twice; each stage doubles the transposed block.
FM_AVX512 inline void transpose16(__m512 x[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(x[i], x[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(x[i], x[i + 1]);
  }
  for (int i = 0; i < 16; i += 4)
    for (int j = 0; j < 2; ++j) {
      const __m512d a = _mm512_castps_pd(t[i + j]), b = _mm512_castps_pd(t[i + j + 2]);
      x[i + 2 * j] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
      x[i + 2 * j + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
    }
  for (int i = 0; i < 16; i += 8)
    for (int j = 0; j < 4; ++j) {
      t[i + j] = _mm512_shuffle_f32x4(x[i + j], x[i + j + 4], 0x88);
      t[i + j + 4] = _mm512_shuffle_f32x4(x[i + j], x[i + j + 4], 0xdd);
    }
  for (int j = 0; j < 8; ++j) {
    x[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
    x[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xdd);
  }
}

// An MR x NV tile of accumulators, zeroed.
template <int MR, int NV>
FM_AVX512 inline __attribute__((always_inline)) void zero_tile(__m512 (&acc)[MR][NV]) {
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
}

// The register-tile step every micro-kernel is built from: one rank-1 update of an MR x NV tile
// of accumulators, acc[i][v] += a[i] * b[v] (a[i] broadcast, b[v] one vector each): MR x NV FMAs
// for MR broadcasts and NV vector loads.
template <int MR, int NV>
FM_AVX512 inline __attribute__((always_inline)) void rank1_update(__m512 (&acc)[MR][NV], const float* a,
                                                                  const __m512 (&b)[NV]) {
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    const __m512 ai = _mm512_set1_ps(a[i]);
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(ai, b[v], acc[i][v]);
  }
}

// Stores the first `rows` rows of an MR x NV tile: out[i ldo + 16 v ..] = acc[i][v] when first,
// else += (a partial sum added onto the earlier ones).
template <int MR, int NV>
FM_AVX512 inline __attribute__((always_inline)) void store_tile(const __m512 (&acc)[MR][NV], float* out, int64_t ldo,
                                                                int rows, bool first) {
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    if (i >= rows) break;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      float* dst = out + i * ldo + 16 * v;
      _mm512_storeu_ps(dst, first ? acc[i][v] : _mm512_add_ps(acc[i][v], _mm512_loadu_ps(dst)));
    }
  }
}

}  // namespace fm::cpu
