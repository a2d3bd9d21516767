// tensor/cpu/best_two_x86.cpp: the AVX-512 kernel of best_two (tensor/best_two.h). x86 only:
// compiled only when FM_HAVE_X86_KERNELS, reached through x86_kernels.h from best_two.cpp.
//
// Four independent sets of 16 lanes, 64 columns per iteration, so that the compare-and-keep chains
// of one set overlap with the others'. Each lane keeps its best value, the first column that gave
// it (columns come in increasing order, and only a strictly larger value replaces it) and its
// second best, updated as second = max(second, min(v, best)) before best = max(best, v). The 64
// lanes are merged at the end: the largest best with the lowest column, and the second largest of
// the other bests and all seconds.
#if !defined(__x86_64__) && !defined(__i386__)
#error "best_two_x86.cpp is x86-only; tensor/meson.build should leave it out on this host"
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "tensor/cpu/avx512.h"
#include "tensor/cpu/x86_kernels.h"

namespace fm::cpu::x86 {

namespace {

struct Lanes {
  __m512 best, second;
  __m512i column;
};

// v_j = b_j, then fma(a_k, x[k][j], v) for each k, in the lanes of mask m (-inf in the others).
// D > 0: d = D, known when compiled, with a_k broadcast already in ab; D = 0: d at run time.
template <int D>
FM_AVX512 inline __m512 values(const __m512* ab, const float* a, const float* x, int64_t ldx, const float* b, int64_t j,
                               int64_t d, __mmask16 m) {
  __m512 v = _mm512_maskz_loadu_ps(m, b + j);
  if constexpr (D > 0)
    for (int k = 0; k < D; ++k) v = _mm512_fmadd_ps(ab[k], _mm512_maskz_loadu_ps(m, x + k * ldx + j), v);
  else
    for (int64_t k = 0; k < d; ++k)
      v = _mm512_fmadd_ps(_mm512_set1_ps(a[k]), _mm512_maskz_loadu_ps(m, x + k * ldx + j), v);
  return _mm512_mask_blend_ps(m, _mm512_set1_ps(-std::numeric_limits<float>::infinity()), v);
}

FM_AVX512 inline void keep(Lanes& s, __m512 v, __m512i column) {
  const __mmask16 higher = _mm512_cmp_ps_mask(v, s.best, _CMP_GT_OQ);
  s.second = _mm512_max_ps(s.second, _mm512_min_ps(v, s.best));
  s.best = _mm512_mask_blend_ps(higher, s.best, v);
  s.column = _mm512_mask_blend_epi32(higher, s.column, column);
}

constexpr int kSets = 4;

// The largest of 16 floats, the least of 16 ints: halves folded onto each other.
FM_AVX512 inline float fold_max(__m512 v) {
  v = _mm512_max_ps(v, _mm512_shuffle_f32x4(v, v, 0x4E));  // 256-bit halves swapped
  v = _mm512_max_ps(v, _mm512_shuffle_f32x4(v, v, 0xB1));  // 128-bit quarters swapped in pairs
  v = _mm512_max_ps(v, _mm512_permute_ps(v, 0x4E));        // pairs of floats swapped
  v = _mm512_max_ps(v, _mm512_permute_ps(v, 0xB1));        // neighbours swapped
  return _mm512_cvtss_f32(v);
}
FM_AVX512 inline int32_t fold_min(__m512i v) {
  v = _mm512_min_epi32(v, _mm512_shuffle_i32x4(v, v, 0x4E));
  v = _mm512_min_epi32(v, _mm512_shuffle_i32x4(v, v, 0xB1));
  v = _mm512_min_epi32(v, _mm512_shuffle_epi32(v, _MM_PERM_BADC));
  v = _mm512_min_epi32(v, _mm512_shuffle_epi32(v, _MM_PERM_CDAB));
  return _mm512_cvtsi512_si32(v);
}

template <int D>
FM_AVX512 void scan(const __m512* ab, const float* a, const float* x, int64_t ldx, const float* b, int64_t n, int64_t d,
                    float* best, float* second, int64_t* index) {
  const float minus_inf = -std::numeric_limits<float>::infinity();
  Lanes s[kSets];
  for (Lanes& l : s) l = {_mm512_set1_ps(minus_inf), _mm512_set1_ps(minus_inf), _mm512_setzero_si512()};
  __m512i column = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i c16 = _mm512_set1_epi32(16), c32 = _mm512_set1_epi32(32), c48 = _mm512_set1_epi32(48),
                c64 = _mm512_set1_epi32(64);
  int64_t j = 0;
  for (; j + 64 <= n; j += 64, column = _mm512_add_epi32(column, c64)) {
    keep(s[0], values<D>(ab, a, x, ldx, b, j, d, 0xFFFF), column);
    keep(s[1], values<D>(ab, a, x, ldx, b, j + 16, d, 0xFFFF), _mm512_add_epi32(column, c16));
    keep(s[2], values<D>(ab, a, x, ldx, b, j + 32, d, 0xFFFF), _mm512_add_epi32(column, c32));
    keep(s[3], values<D>(ab, a, x, ldx, b, j + 48, d, 0xFFFF), _mm512_add_epi32(column, c48));
  }
  for (; j < n; j += 16, column = _mm512_add_epi32(column, c16))  // the rest, in set 0 (still in column order)
    keep(s[0], values<D>(ab, a, x, ldx, b, j, d, first_lanes(n - j)), column);
  // Merge: the largest best, its lowest column, and the largest of the rest (the other lanes'
  // bests and every lane's second), with vector compares and one 16-lane fold each.
  __m512 top = s[0].best;
  for (int t = 1; t < kSets; ++t) top = _mm512_max_ps(top, s[t].best);
  const float m = fold_max(top);
  __m512i first = _mm512_set1_epi32(INT32_MAX);
  for (int t = 0; t < kSets; ++t)
    first = _mm512_mask_min_epi32(first, _mm512_cmp_ps_mask(s[t].best, _mm512_set1_ps(m), _CMP_EQ_OQ), first, s[t].column);
  const int32_t winner_column = fold_min(first);
  __m512 rest = _mm512_set1_ps(minus_inf);
  for (int t = 0; t < kSets; ++t) {
    const __mmask16 winner = _mm512_cmp_epi32_mask(s[t].column, _mm512_set1_epi32(winner_column), _MM_CMPINT_EQ) &
                             _mm512_cmp_ps_mask(s[t].best, _mm512_set1_ps(m), _CMP_EQ_OQ);
    rest = _mm512_max_ps(rest, _mm512_mask_max_ps(s[t].second, __mmask16(~winner), s[t].second, s[t].best));
  }
  *best = m, *second = fold_max(rest), *index = m == minus_inf ? -1 : winner_column;
}

}  // namespace

FM_AVX512 void best_two_avx512(const float* a, const float* x, int64_t ldx, const float* b, int64_t n, int64_t d,
                               float* best, float* second, int64_t* index) {
  __m512 broadcast[3];
  for (int64_t k = 0; k < std::min<int64_t>(d, 3); ++k) broadcast[k] = _mm512_set1_ps(a[k]);
  switch (d) {  // the toy points (d = 2) and other small d unrolled; any d at run time
    case 1: return scan<1>(broadcast, a, x, ldx, b, n, d, best, second, index);
    case 2: return scan<2>(broadcast, a, x, ldx, b, n, d, best, second, index);
    case 3: return scan<3>(broadcast, a, x, ldx, b, n, d, best, second, index);
    default: return scan<0>(broadcast, a, x, ldx, b, n, d, best, second, index);
  }
}

}  // namespace fm::cpu::x86
