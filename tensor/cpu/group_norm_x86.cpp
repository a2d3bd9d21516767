// tensor/cpu/group_norm_x86.cpp: the AVX-512 loops of the group norm fused with SiLU (the maths
// and the portable loops are in group_norm.cpp). x86 only: compiled only when FM_HAVE_X86_KERNELS
// (tensor/meson.build), reached through x86_kernels.h from group_norm.cpp, which calls them only
// when the CPU has AVX-512 and the sgemm kernels are not forced to another set.
//
// Why by hand: GCC's vector clone of the portable SiLU loops turns the clamps of fast_exp into
// masked copies of the whole computation (two divisions per vector) and keeps the 16 lane sums
// of the backward pass in memory; and a channel's last n % 16 elements run as scalar code, a
// fifth of the work at 14 x 14 (196 = 12 x 16 + 4). Here the exponential is straight-line code
// and the tail is one masked vector. Measured on one Zen 4 core (ns per element, backward sums,
// the fused op's hot loop): 0.70 -> 0.48 at 28 x 28, 0.98 -> 0.69 at 14 x 14.
#if !defined(__x86_64__) && !defined(__i386__)
#error "group_norm_x86.cpp is x86-only; tensor/meson.build should leave it out on this host"
#endif

#include <cstdint>

#include "tensor/cpu/avx512.h"
#include "tensor/cpu/x86_kernels.h"

namespace fm::cpu::x86 {

namespace {

// e^x per lane by act::fast_exp's steps (tensor/activation.h): x clamped to where a float holds
// the result, x = k ln 2 + r with |r| <= ln 2 / 2, e^r by its degree-6 Taylor polynomial, times
// 2^k built in the exponent bits.
FM_AVX512 inline __m512 exp16(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.7f));
  const __m512 shifter = _mm512_set1_ps(12582912.0f);  // 1.5 * 2^23: k lands in the low mantissa bits
  __m512 kf = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504f), shifter);
  const __m512i k = _mm512_sub_epi32(_mm512_castps_si512(kf), _mm512_castps_si512(shifter));
  kf = _mm512_sub_ps(kf, shifter);
  __m512 r = _mm512_fnmadd_ps(kf, _mm512_set1_ps(0.693145752f), x);  // ln 2 in two parts
  r = _mm512_fnmadd_ps(kf, _mm512_set1_ps(1.42860677e-6f), r);
  __m512 p = _mm512_set1_ps(1.0f / 720);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  const __m512i two_k = _mm512_slli_epi32(_mm512_add_epi32(k, _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(two_k));
}

// sigmoid(z) = 1 / (1 + e^-z)
FM_AVX512 inline __m512 sigmoid16(__m512 z) {
  const __m512 one = _mm512_set1_ps(1.0f);
  return _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_setzero_ps(), z))));
}

}  // namespace

// y = silu(x a + b) = z sigmoid(z), n elements.
FM_AVX512 void affine_silu_avx512(const float* x, float a, float b, float* y, int64_t n) {
  const __m512 av = _mm512_set1_ps(a), bv = _mm512_set1_ps(b);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = first_lanes(n - i);
    const __m512 z = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, x + i), av, bv);
    _mm512_mask_storeu_ps(y + i, k, _mm512_mul_ps(z, sigmoid16(z)));
  }
}

// g = dy silu'(z), z = x a + b, with silu'(z) = s (1 + z (1 - s)), s = sigmoid(z); s1 = sum g,
// s2 = sum g (x - m): 16 lane sums (the tail's lanes past n add zeros), added in lane order.
FM_AVX512 void grad_sums_silu_avx512(const float* x, const float* dy, float m, float a, float b, float* g, int64_t n,
                                     double& s1, double& s2) {
  const __m512 av = _mm512_set1_ps(a), bv = _mm512_set1_ps(b), mv = _mm512_set1_ps(m), one = _mm512_set1_ps(1.0f);
  __m512 p1 = _mm512_setzero_ps(), p2 = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = first_lanes(n - i);
    const __m512 xv = _mm512_maskz_loadu_ps(k, x + i), z = _mm512_fmadd_ps(xv, av, bv), s = sigmoid16(z);
    const __m512 df = _mm512_mul_ps(s, _mm512_fmadd_ps(z, _mm512_sub_ps(one, s), one));
    const __m512 gv = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, dy + i), df);  // 0 past n
    _mm512_mask_storeu_ps(g + i, k, gv);
    p1 = _mm512_add_ps(p1, gv);
    p2 = _mm512_fmadd_ps(gv, _mm512_sub_ps(xv, mv), p2);
  }
  alignas(64) float q1[16], q2[16];
  _mm512_store_ps(q1, p1);
  _mm512_store_ps(q2, p2);
  s1 = s2 = 0.0;
  for (int j = 0; j < 16; ++j) s1 += q1[j], s2 += q2[j];
}

}  // namespace fm::cpu::x86
