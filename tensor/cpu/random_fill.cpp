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
      uint64_t ctr = base + b;
      auto w = philox4x32({uint32_t(ctr), uint32_t(ctr >> 32), 0u, 0u}, {uint32_t(seed), uint32_t(seed >> 32)});
      fill(b, w);
    }
  });
}

}  // namespace

void philox_uniform(Tensor& t, uint64_t seed, uint64_t base, float lo, float hi) {
  int64_t n = t.numel();
  float* d = t.data();
  philox_blocks(seed, base, n, [&](int64_t b, const std::array<uint32_t, 4>& w) {
    for (int j = 0; j < 4 && 4 * b + j < n; ++j) d[4 * b + j] = lo + (hi - lo) * u32_to_unit(w[j]);
  });
}

// Box-Muller: two uniforms (u1 in (0, 1], u2 in [0, 1)) give two independent N(0, 1) values,
// r cos(2 pi u2) and r sin(2 pi u2) with r = sqrt(-2 log u1).
void philox_normal(Tensor& t, uint64_t seed, uint64_t base, float mean, float stddev) {
  int64_t n = t.numel();
  float* d = t.data();
  philox_blocks(seed, base, n, [&](int64_t b, const std::array<uint32_t, 4>& w) {
    for (int pair = 0; pair < 2; ++pair) {
      double u1 = 1.0 - u32_to_unit(w[2 * pair]), u2 = u32_to_unit(w[2 * pair + 1]);
      double r = std::sqrt(-2.0 * std::log(u1)), a = 2.0 * M_PI * u2;
      int64_t i = 4 * b + 2 * pair;
      if (i < n) d[i] = mean + stddev * static_cast<float>(r * std::cos(a));
      if (i + 1 < n) d[i + 1] = mean + stddev * static_cast<float>(r * std::sin(a));
    }
  });
}

void philox_rademacher(Tensor& t, uint64_t seed, uint64_t base) {
  int64_t n = t.numel();
  float* d = t.data();
  philox_blocks(seed, base, n, [&](int64_t b, const std::array<uint32_t, 4>& w) {
    for (int j = 0; j < 4 && 4 * b + j < n; ++j) d[4 * b + j] = (w[j] >> 31) ? 1.0f : -1.0f;
  });
}

// Lemire's multiply-shift maps a 64-bit word (two Philox words) to [0, bound) with negligible bias.
void philox_integers(int64_t* out, int64_t n, int64_t bound, uint64_t seed, uint64_t base) {
  philox_blocks(seed, base, 2 * n, [&](int64_t b, const std::array<uint32_t, 4>& w) {
    for (int pair = 0; pair < 2; ++pair) {
      int64_t i = 2 * b + pair;
      if (i >= n) break;
      uint64_t x = (uint64_t(w[2 * pair]) << 32) | w[2 * pair + 1];
      out[i] = static_cast<int64_t>((static_cast<unsigned __int128>(x) * uint64_t(bound)) >> 64);
    }
  });
}

}  // namespace fm::cpu
