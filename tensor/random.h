// tensor/random.h: counter-based random numbers (Philox4x32-10, Salmon et al. SC'11).
//
// A counter-based generator maps (key, counter) -> 4 random 32-bit words with no hidden state, so
// element i of a random tensor is a pure function of (seed, stream offset, i). Filling a tensor in
// parallel therefore gives the same numbers for any number of threads: that is what makes
// `--seed` reproducible independent of OMP_NUM_THREADS.
#pragma once
#include <array>
#include <cstdint>

#include "tensor/philox.h"  // the generator itself, and u32_to_unit
#include "tensor/tensor.h"

namespace fm {

// Philox4x32 with 10 rounds: 128-bit counter, 64-bit key.
std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

// A seeded stream. Each draw consumes a block of counters, so successive draws never overlap.
// The whole state is (seed, offset): saving those two numbers resumes the stream exactly.
class Rng {
 public:
  explicit Rng(uint64_t seed = 0, uint64_t offset = 0) : seed_(seed), offset_(offset) {}

  void uniform(Tensor& t, float lo = 0.0f, float hi = 1.0f);  // U[lo, hi)
  void normal(Tensor& t, float mean = 0.0f, float stddev = 1.0f);
  void rademacher(Tensor& t);  // +1 or -1 with equal probability
  // n integers uniform in [0, bound) (e.g. minibatch indices).
  void integers(int64_t* out, int64_t n, int64_t bound);

  // Scalar draws for small host-side decisions (they consume one counter block each).
  float uniform1();
  double normal1();

  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }

 private:
  // Reserves `n` 32-bit words of the stream and returns the first counter of the block.
  uint64_t reserve(int64_t n_words);
  uint64_t seed_, offset_;
};

// An independent seed for sub-stream `stream` of `seed` (splitmix64 of the pair), so model
// initialisation, data and noise each get their own reproducible stream from one --seed.
uint64_t derive_seed(uint64_t seed, uint64_t stream);

// Raw 32-bit word `i` of the block starting at counter `base` (4 words per Philox call).
uint32_t philox_word(uint64_t seed, uint64_t base, uint64_t i);


}  // namespace fm
