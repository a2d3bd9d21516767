// flow/dataset.h: where training and evaluation samples come from.
//
// A dataset is named on the command line: a 2-D toy ("checkerboard", ...), which is an endless
// generator, or a file of the user's (.npy / .csv, N x D), from which batches are drawn
// uniformly with replacement.
#pragma once
#include <memory>
#include <string>

#include "tensor/random.h"

namespace fm {

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual std::string name() const = 0;
  virtual Shape sample_shape() const = 0;  // one sample, e.g. [2]
  virtual Tensor batch(int64_t n, Rng& rng) = 0;
  // Size of a finite dataset; 0 for a generator.
  virtual int64_t size() const { return 0; }
  // The first n samples of a finite dataset, in order (for evaluation: each row once).
  virtual Tensor head(int64_t n) const;
};

// Samples held in memory (N x ...), drawn uniformly with replacement.
std::unique_ptr<Dataset> tensor_dataset(const std::string& name, Tensor samples);

// A toy name or a data file path; throws with the list of toy names if neither.
std::unique_ptr<Dataset> open_dataset(const std::string& spec);

}  // namespace fm
