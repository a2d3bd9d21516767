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

// One process's rows of a batch that several processes draw together (data-parallel training,
// dist/): rows [first, first + count) of every draw of `total` rows. total == 0: no share, each
// draw is the whole tensor.
struct BatchShare {
  int64_t first = 0, count = 0, total = 0;
  bool active() const { return total > 0; }
};

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

  // With a share, every draw above is a batch of share.count rows (t.dim(0), or n) that holds rows
  // [first, first + count) of the draw of `total` rows that one process would make: the stream
  // advances by the whole draw, so its offset, and every row's numbers, do not depend on how the
  // batch is split. A draw of another size throws. BatchShare{} ends the share.
  void set_share(const BatchShare& share);
  const BatchShare& share() const { return share_; }

  // Advances the stream as an unshared draw of n numbers does, without drawing them.
  void skip(int64_t n) { reserve(n); }

  // Scalar draws for small host-side decisions (they consume one counter block each).
  float uniform1();
  double normal1();

  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  // Moves to `offset` of the same stream (a resume), keeping the share.
  void seek(uint64_t offset) { offset_ = offset; }

 private:
  // Reserves `n` 32-bit words of the stream and returns the first counter of the block.
  uint64_t reserve(int64_t n_words);
  // Reserves a draw of `rows` rows of `words_per_row` words (all `share_.total` rows when shared)
  // and returns the stream word of this process's first row.
  uint64_t reserve_rows(int64_t rows, int64_t words_per_row, const char* what);
  uint64_t seed_, offset_;
  BatchShare share_;
};

// An independent seed for sub-stream `stream` of `seed` (splitmix64 of the pair), so model
// initialisation, data and noise each get their own reproducible stream from one --seed.
uint64_t derive_seed(uint64_t seed, uint64_t stream);

// The streams of a run, each derive_seed(seed, stream) of its --seed: one name per use, so that no
// two uses draw the same numbers. The numbers are part of every saved result: never renumber.
enum class Stream : uint64_t {
  Init = 0,      // the model's initial weights (fm train)
  Data = 1,      // the samples, flips and indices a training step draws
  Noise = 2,     // a training step's x0 and times
  Eval = 3,      // fm train's final evaluation: fresh data, its noise and probes
  Sample = 4,    // fm sample: noise and probes
  Nll = 5,       // fm nll: toy data, dequantisation and probes
  Grid = 6,      // the fixed noise of the sample grids drawn while training
  Picture = 8,   // fm train's 2-D picture: model samples' noise, then data samples
  Quality = 9,   // fm train's few-step sample quality (points): noise, then fresh data
  Dropout = 77,  // dropout masks, a sub-stream of Init's seed
};
inline uint64_t derive_seed(uint64_t seed, Stream stream) { return derive_seed(seed, static_cast<uint64_t>(stream)); }

// Raw 32-bit word `i` of the block starting at counter `base` (4 words per Philox call).
uint32_t philox_word(uint64_t seed, uint64_t base, uint64_t i);


}  // namespace fm
