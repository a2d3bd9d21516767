// tensor/cpu/random_fill.cpp: the CPU kernels of the random fills (tensor/random.h). A fill that
// starts at stream word `first` gives element i the word first + i (lane (first + i) % 4 of Philox
// block (first + i) / 4), a pure function of (seed, first, i), so the chunks can run on any number
// of threads, and a fill of rows [r, r + k) of a draw equals those rows of the whole draw.
#include <cmath>

#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"
#include "tensor/random.h"

namespace fm::cpu {

namespace {

// Calls fill(i0, words) for each Philox block touching elements [0, n): the block's 4 words belong
// to elements i0 .. i0 + 3 (i0 < 0 in the first block when `first` is not a multiple of 4; the
// fills skip the elements outside [0, n)).
template <class Fill>
void philox_words(uint64_t seed, uint64_t first, int64_t n, const Fill& fill) {
  if (n <= 0) return;
  const uint64_t b0 = first / 4;
  const int64_t blocks = static_cast<int64_t>((first + uint64_t(n) + 3) / 4 - b0);
  parallel_for(blocks, grain_for(32), [&](int64_t lo, int64_t hi) {
    for (int64_t b = lo; b < hi; ++b) {
      const uint64_t block = b0 + uint64_t(b);
      fill(static_cast<int64_t>(4 * block - first), philox_block(seed, block).w);
    }
  });
}

}  // namespace

void philox_uniform(Tensor& t, uint64_t seed, uint64_t first, float lo, float hi) {
  const int64_t n = t.numel();
  float* d = t.data();
  philox_words(seed, first, n, [&](int64_t i0, const uint32_t* w) {
    for (int j = 0; j < 4; ++j)
      if (i0 + j >= 0 && i0 + j < n) d[i0 + j] = uniform_from(w[j], lo, hi);
  });
}

// Box-Muller on each pair of words (lanes 0-1 and 2-3 of a block; tensor/philox.h).
void philox_normal(Tensor& t, uint64_t seed, uint64_t first, float mean, float stddev) {
  const int64_t n = t.numel();
  float* d = t.data();
  philox_words(seed, first, n, [&](int64_t i0, const uint32_t* w) {
    for (int pair = 0; pair < 2; ++pair) {
      double z1, z2;
      normal_pair(w[2 * pair], w[2 * pair + 1], z1, z2);
      const int64_t i = i0 + 2 * pair;
      if (i >= 0 && i < n) d[i] = mean + stddev * static_cast<float>(z1);
      if (i + 1 >= 0 && i + 1 < n) d[i + 1] = mean + stddev * static_cast<float>(z2);
    }
  });
}

void philox_rademacher(Tensor& t, uint64_t seed, uint64_t first) {
  const int64_t n = t.numel();
  float* d = t.data();
  philox_words(seed, first, n, [&](int64_t i0, const uint32_t* w) {
    for (int j = 0; j < 4; ++j)
      if (i0 + j >= 0 && i0 + j < n) d[i0 + j] = rademacher_from(w[j]);
  });
}

// Integer k takes words 2k and 2k + 1 (`first` is even, so a pair never straddles two blocks);
// Lemire's multiply-shift maps the 64-bit word to [0, bound) with negligible bias.
void philox_integers(int64_t* out, int64_t n, int64_t bound, uint64_t seed, uint64_t first) {
  philox_words(seed, first, 2 * n, [&](int64_t i0, const uint32_t* w) {
    for (int pair = 0; pair < 2; ++pair) {
      const int64_t k = (i0 + 2 * pair) / 2;
      if (i0 + 2 * pair < 0 || k >= n) continue;
      uint64_t x = (uint64_t(w[2 * pair]) << 32) | w[2 * pair + 1];
      out[k] = static_cast<int64_t>((static_cast<unsigned __int128>(x) * uint64_t(bound)) >> 64);
    }
  });
}

}  // namespace fm::cpu
