// tensor/cpu/random_fill.cpp: the CPU kernels of the random fills (tensor/random.h). Element i of
// a fill is a pure function of (seed, base, i), so the chunks can run on any number of threads.
#include <cmath>

#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"
#include "tensor/random.h"

namespace fm::cpu {

namespace {

// Calls fill(i, words) for each group of 4 outputs, with the 4 Philox words of counter base + i.
template <class Fill>
void philox_blocks(uint64_t seed, uint64_t base, int64_t n, const Fill& fill) {
  int64_t blocks = (n + 3) / 4;
  parallel_for(blocks, grain_for(32), [&](int64_t lo, int64_t hi) {
    for (int64_t b = lo; b < hi; ++b) {
      fill(b, philox_block(seed, base + b).w);
    }
  });
}

}  // namespace

void philox_uniform(Tensor& t, uint64_t seed, uint64_t base, float lo, float hi) {
  int64_t n = t.numel();
  float* d = t.data();
  philox_blocks(seed, base, n, [&](int64_t b, const uint32_t* w) {
    for (int j = 0; j < 4 && 4 * b + j < n; ++j) d[4 * b + j] = uniform_from(w[j], lo, hi);
  });
}

// Box-Muller on each pair of words (tensor/philox.h).
void philox_normal(Tensor& t, uint64_t seed, uint64_t base, float mean, float stddev) {
  int64_t n = t.numel();
  float* d = t.data();
  philox_blocks(seed, base, n, [&](int64_t b, const uint32_t* w) {
    for (int pair = 0; pair < 2; ++pair) {
      double z1, z2;
      normal_pair(w[2 * pair], w[2 * pair + 1], z1, z2);
      int64_t i = 4 * b + 2 * pair;
      if (i < n) d[i] = mean + stddev * static_cast<float>(z1);
      if (i + 1 < n) d[i + 1] = mean + stddev * static_cast<float>(z2);
    }
  });
}

void philox_rademacher(Tensor& t, uint64_t seed, uint64_t base) {
  int64_t n = t.numel();
  float* d = t.data();
  philox_blocks(seed, base, n, [&](int64_t b, const uint32_t* w) {
    for (int j = 0; j < 4 && 4 * b + j < n; ++j) d[4 * b + j] = rademacher_from(w[j]);
  });
}

// Lemire's multiply-shift maps a 64-bit word (two Philox words) to [0, bound) with negligible bias.
void philox_integers(int64_t* out, int64_t n, int64_t bound, uint64_t seed, uint64_t base) {
  philox_blocks(seed, base, 2 * n, [&](int64_t b, const uint32_t* w) {
    for (int pair = 0; pair < 2; ++pair) {
      int64_t i = 2 * b + pair;
      if (i >= n) break;
      uint64_t x = (uint64_t(w[2 * pair]) << 32) | w[2 * pair + 1];
      out[i] = static_cast<int64_t>((static_cast<unsigned __int128>(x) * uint64_t(bound)) >> 64);
    }
  });
}

}  // namespace fm::cpu
