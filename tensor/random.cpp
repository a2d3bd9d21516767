// tensor/random.cpp: seeded streams over Philox4x32-10 (tensor/philox.h) and the fills built on it.
#include "tensor/random.h"

#include <cmath>
#include <stdexcept>

#include "tensor/dispatch.h"

namespace fm {

std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
  const PhiloxWords r = philox4x32_10(c[0], c[1], c[2], c[3], k[0], k[1]);  // tensor/philox.h
  return {r.w[0], r.w[1], r.w[2], r.w[3]};
}

uint32_t philox_word(uint64_t seed, uint64_t base, uint64_t i) { return philox_block(seed, base + i / 4).w[i % 4]; }

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
