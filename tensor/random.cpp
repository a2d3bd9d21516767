// tensor/random.cpp: Philox4x32-10 and the distributions built on it.
#include "tensor/random.h"

#include <cmath>
#include <stdexcept>

#include "tensor/dispatch.h"

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

// The tensor fills run on the tensor's device (tensor/cpu/random_fill.cpp for host memory); each
// reserves its block of the stream here, so the numbers do not depend on the device either.
void Rng::uniform(Tensor& t, float lo, float hi) {
  const uint64_t base = reserve(t.numel());
  FM_DISPATCH("Rng::uniform", philox_uniform(t, seed_, base, lo, hi), t);
}

void Rng::normal(Tensor& t, float mean, float stddev) {
  const uint64_t base = reserve(t.numel());
  FM_DISPATCH("Rng::normal", philox_normal(t, seed_, base, mean, stddev), t);
}

void Rng::rademacher(Tensor& t) {
  const uint64_t base = reserve(t.numel());
  FM_DISPATCH("Rng::rademacher", philox_rademacher(t, seed_, base), t);
}

void Rng::integers(int64_t* out, int64_t n, int64_t bound) {
  if (bound <= 0) throw std::runtime_error("Rng::integers: bound must be positive");
  cpu::philox_integers(out, n, bound, seed_, reserve(2 * n));
}

float Rng::uniform1() { return u32_to_unit(philox_word(seed_, reserve(4), 0)); }

double Rng::normal1() {
  uint64_t base = reserve(4);
  double u1 = 1.0 - u32_to_unit(philox_word(seed_, base, 0)), u2 = u32_to_unit(philox_word(seed_, base, 1));
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

}  // namespace fm
