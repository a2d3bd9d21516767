// tensor/philox.h: Philox4x32-10 (Salmon et al., SC'11) and the conversions of its words to
// numbers, as __host__ __device__ functions: the CPU fills (tensor/cpu/random_fill.cpp) and the
// CUDA fills (cuda/random.cu) compute the same expression, so a seed gives the same noise, times
// and probes on both devices.
#pragma once
#include <cstdint>

#include "tensor/activation.h"  // FM_HD

namespace fm {

struct PhiloxWords {
  uint32_t w[4];
};

// The round function multiplies two counter words by constants, swaps and xors in the key; the
// key is bumped by the Weyl constants between rounds. Constants from the Random123 paper.
FM_HD inline PhiloxWords philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
  constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t(M0) * c0, p1 = uint64_t(M1) * c2;
    const uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0), hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
    const uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0, c1 = lo1, c2 = n2, c3 = lo0;
    k0 += W0;
    k1 += W1;
  }
  return {{c0, c1, c2, c3}};
}

// The 4 words of counter `ctr` (low 64 bits) under a 64-bit seed: the stream's block `ctr`.
FM_HD inline PhiloxWords philox_block(uint64_t seed, uint64_t ctr) {
  return philox4x32_10(uint32_t(ctr), uint32_t(ctr >> 32), 0u, 0u, uint32_t(seed), uint32_t(seed >> 32));
}

// A word to a float in [0, 1) with 24 bits of precision.
FM_HD inline float u32_to_unit(uint32_t w) { return static_cast<float>(w >> 8) * (1.0f / 16777216.0f); }

// The distributions' per-element math, one expression shared by both devices.
FM_HD inline float uniform_from(uint32_t w, float lo, float hi) { return lo + (hi - lo) * u32_to_unit(w); }
FM_HD inline float rademacher_from(uint32_t w) { return (w >> 31) ? 1.0f : -1.0f; }
// Box-Muller: two uniforms (u1 in (0, 1], u2 in [0, 1)) give two independent N(0, 1) values,
// r cos(2 pi u2) and r sin(2 pi u2) with r = sqrt(-2 log u1), in double.
FM_HD inline void normal_pair(uint32_t w1, uint32_t w2, double& z1, double& z2) {
  const double u1 = 1.0 - u32_to_unit(w1), u2 = u32_to_unit(w2);
  const double r = ::sqrt(-2.0 * ::log(u1)), a = 2.0 * 3.14159265358979323846 * u2;
  z1 = r * ::cos(a);
  z2 = r * ::sin(a);
}

}  // namespace fm
