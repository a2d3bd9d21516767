// tensor/random.cpp: Philox4x32-10 and the distributions built on it.
#include "tensor/random.h"

#include <cmath>
#include <stdexcept>

#include "tensor/cpu/parallel.h"

namespace fm {

// The round function multiplies two counter words by constants, swaps and xors in the key;
// the key is bumped by the Weyl constants between rounds. Constants from the Random123 paper.
std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
  constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = uint64_t(M0) * c[0], p1 = uint64_t(M1) * c[2];
    uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0), hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
    c = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
    k[0] += W0;
    k[1] += W1;
  }
  return c;
}

uint32_t philox_word(uint64_t seed, uint64_t base, uint64_t i) {
  uint64_t ctr = base + i / 4;
  auto r = philox4x32({uint32_t(ctr), uint32_t(ctr >> 32), 0u, 0u}, {uint32_t(seed), uint32_t(seed >> 32)});
  return r[i % 4];
}

uint64_t derive_seed(uint64_t seed, uint64_t stream) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (stream + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t Rng::reserve(int64_t n_words) {
  uint64_t base = offset_;
  offset_ += static_cast<uint64_t>((n_words + 3) / 4);  // counters, 4 words each
  return base;
}

// Calls fill(i, words) for each group of 4 outputs, with the 4 Philox words of counter base + i.
template <class Fill>
static void philox_blocks(uint64_t seed, uint64_t base, int64_t n, const Fill& fill) {
  int64_t blocks = (n + 3) / 4;
  parallel_for(blocks, 1024, [&](int64_t lo, int64_t hi) {
    for (int64_t b = lo; b < hi; ++b) {
      uint64_t ctr = base + b;
      auto w = philox4x32({uint32_t(ctr), uint32_t(ctr >> 32), 0u, 0u}, {uint32_t(seed), uint32_t(seed >> 32)});
      fill(b, w);
    }
  });
}

void Rng::uniform(Tensor& t, float lo, float hi) {
  int64_t n = t.numel();
  float* d = t.data();
  philox_blocks(seed_, reserve(n), n, [&](int64_t b, const std::array<uint32_t, 4>& w) {
    for (int j = 0; j < 4 && 4 * b + j < n; ++j) d[4 * b + j] = lo + (hi - lo) * u32_to_unit(w[j]);
  });
}

// Box-Muller: two uniforms (u1 in (0, 1], u2 in [0, 1)) give two independent N(0, 1) values,
// r cos(2 pi u2) and r sin(2 pi u2) with r = sqrt(-2 log u1).
void Rng::normal(Tensor& t, float mean, float stddev) {
  int64_t n = t.numel();
  float* d = t.data();
  philox_blocks(seed_, reserve(n), n, [&](int64_t b, const std::array<uint32_t, 4>& w) {
    for (int pair = 0; pair < 2; ++pair) {
      double u1 = 1.0 - u32_to_unit(w[2 * pair]), u2 = u32_to_unit(w[2 * pair + 1]);
      double r = std::sqrt(-2.0 * std::log(u1)), a = 2.0 * M_PI * u2;
      int64_t i = 4 * b + 2 * pair;
      if (i < n) d[i] = mean + stddev * static_cast<float>(r * std::cos(a));
      if (i + 1 < n) d[i + 1] = mean + stddev * static_cast<float>(r * std::sin(a));
    }
  });
}

void Rng::rademacher(Tensor& t) {
  int64_t n = t.numel();
  float* d = t.data();
  philox_blocks(seed_, reserve(n), n, [&](int64_t b, const std::array<uint32_t, 4>& w) {
    for (int j = 0; j < 4 && 4 * b + j < n; ++j) d[4 * b + j] = (w[j] >> 31) ? 1.0f : -1.0f;
  });
}

// Lemire's multiply-shift maps a 64-bit word (two Philox words) to [0, bound) with negligible bias.
void Rng::integers(int64_t* out, int64_t n, int64_t bound) {
  if (bound <= 0) throw std::runtime_error("Rng::integers: bound must be positive");
  uint64_t base = reserve(2 * n);
  philox_blocks(seed_, base, 2 * n, [&](int64_t b, const std::array<uint32_t, 4>& w) {
    for (int pair = 0; pair < 2; ++pair) {
      int64_t i = 2 * b + pair;
      if (i >= n) break;
      uint64_t x = (uint64_t(w[2 * pair]) << 32) | w[2 * pair + 1];
      out[i] = static_cast<int64_t>((static_cast<unsigned __int128>(x) * uint64_t(bound)) >> 64);
    }
  });
}

float Rng::uniform1() { return u32_to_unit(philox_word(seed_, reserve(4), 0)); }

double Rng::normal1() {
  uint64_t base = reserve(4);
  double u1 = 1.0 - u32_to_unit(philox_word(seed_, base, 0)), u2 = u32_to_unit(philox_word(seed_, base, 1));
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

}  // namespace fm
