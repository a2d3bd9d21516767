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

void Rng::set_share(const BatchShare& s) {
  if (s.active() && !(s.first >= 0 && s.count > 0 && s.first + s.count <= s.total))
    throw std::runtime_error("Rng: rows [" + std::to_string(s.first) + ", " + std::to_string(s.first + s.count) +
                             ") are not a share of a batch of " + std::to_string(s.total));
  share_ = s;
}

uint64_t Rng::reserve_rows(int64_t rows, int64_t words_per_row, const char* what) {
  if (!share_.active()) return 4 * reserve(rows * words_per_row);
  if (rows != share_.count)
    throw std::runtime_error(std::string(what) + ": a draw of " + std::to_string(rows) + " rows from a stream shared as " +
                             std::to_string(share_.count) + " of " + std::to_string(share_.total) + " rows");
  return 4 * reserve(share_.total * words_per_row) + uint64_t(share_.first * words_per_row);
}

namespace {
// A fill's rows: the leading axis (a scalar is one row of one word).
int64_t rows_of(const Tensor& t) { return t.ndim() ? t.dim(0) : 1; }
int64_t row_words(const Tensor& t) { return t.ndim() && t.dim(0) ? t.numel() / t.dim(0) : 1; }
}  // namespace

// The tensor fills run on the tensor's device (tensor/cpu/random_fill.cpp for host memory); each
// reserves its block of the stream here, so the numbers do not depend on the device either.
void Rng::uniform(Tensor& t, float lo, float hi) {
  const uint64_t first = reserve_rows(rows_of(t), row_words(t), "Rng::uniform");
  FM_DISPATCH("Rng::uniform", philox_uniform(t, seed_, first, lo, hi), t);
}

void Rng::normal(Tensor& t, float mean, float stddev) {
  const uint64_t first = reserve_rows(rows_of(t), row_words(t), "Rng::normal");
  FM_DISPATCH("Rng::normal", philox_normal(t, seed_, first, mean, stddev), t);
}

void Rng::rademacher(Tensor& t) {
  const uint64_t first = reserve_rows(rows_of(t), row_words(t), "Rng::rademacher");
  FM_DISPATCH("Rng::rademacher", philox_rademacher(t, seed_, first), t);
}

void Rng::integers(int64_t* out, int64_t n, int64_t bound) {
  if (bound <= 0) throw std::runtime_error("Rng::integers: bound must be positive");
  cpu::philox_integers(out, n, bound, seed_, reserve_rows(n, 2, "Rng::integers"));
}

float Rng::uniform1() { return u32_to_unit(philox_word(seed_, reserve(4), 0)); }

double Rng::normal1() {
  uint64_t base = reserve(4);
  double u1 = 1.0 - u32_to_unit(philox_word(seed_, base, 0)), u2 = u32_to_unit(philox_word(seed_, base, 1));
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

}  // namespace fm
