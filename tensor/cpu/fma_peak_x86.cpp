// tensor/cpu/fma_peak_x86.cpp: the register-only FMA loops behind fma_peak (fma_peak.h). x86 only:
// compiled only when FM_HAVE_X86_KERNELS (tensor/meson.build), reached through x86_kernels.h.
//
// 16 accumulators, each a chain of dependent FMAs acc = acc * a + b: with an FMA latency of 4
// cycles and two FMA pipes a core needs 8 chains in flight to issue every cycle; 16 leaves
// room, and 16 vector registers (of 32 with AVX-512, all 16 with AVX2) hold them with no memory
// access in the loop.
#if !defined(__x86_64__) && !defined(__i386__)
#error "fma_peak_x86.cpp is x86-only; tensor/meson.build should leave it out on this host"
#endif

#include <immintrin.h>

#include "tensor/cpu/avx512.h"
#include "tensor/cpu/x86_kernels.h"

#define FM_AVX2 __attribute__((target("avx2,fma")))

namespace fm::cpu::x86 {

namespace {
constexpr int kChains = 16;
volatile float g_sink;  // keeps the result, so the loop is not optimised away
}  // namespace

FM_AVX512 double fma_rounds_avx512(int64_t rounds) {
  const __m512 a = _mm512_set1_ps(0.9999f), b = _mm512_set1_ps(1e-4f);
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(float(c));
  for (int64_t r = 0; r < rounds; ++r)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
  __m512 sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm512_add_ps(sum, acc[c]);
  alignas(64) float lanes[16];  // not _mm512_reduce_add_ps: GCC 12 warns inside it (bug 105593)
  _mm512_store_ps(lanes, sum);
  g_sink = lanes[0] + lanes[15];
  return 2.0 * 16 * kChains * double(rounds);
}

FM_AVX2 double fma_rounds_avx2(int64_t rounds) {
  const __m256 a = _mm256_set1_ps(0.9999f), b = _mm256_set1_ps(1e-4f);
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(float(c));
  for (int64_t r = 0; r < rounds; ++r)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  __m256 sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm256_add_ps(sum, acc[c]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
  g_sink = lanes[0] + lanes[7];
  return 2.0 * 8 * kChains * double(rounds);
}

}  // namespace fm::cpu::x86
