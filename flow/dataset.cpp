// flow/dataset.cpp
#include "flow/dataset.h"

#include <filesystem>
#include <stdexcept>
#include <vector>

#include "flow/datafile.h"
#include "flow/toy2d.h"
#include "tensor/ops.h"

namespace fm {

Tensor Dataset::head(int64_t) const {
  throw std::runtime_error(name() + " is a generator with no fixed rows");
}

namespace {

class ToyDataset : public Dataset {
 public:
  explicit ToyDataset(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  Shape sample_shape() const override { return {2}; }
  Tensor batch(int64_t n, Rng& rng) override { return sample_toy2d(name_, n, rng); }

 private:
  std::string name_;
};

class TensorDataset : public Dataset {
 public:
  TensorDataset(std::string name, Tensor data) : name_(std::move(name)), data_(std::move(data)) {}
  std::string name() const override { return name_; }
  Shape sample_shape() const override { return Shape(data_.shape().begin() + 1, data_.shape().end()); }
  int64_t size() const override { return data_.dim(0); }
  Tensor head(int64_t n) const override { return data_.rows(0, std::min(n, data_.dim(0))).clone(); }
  Tensor batch(int64_t n, Rng& rng) override {
    std::vector<int64_t> idx(n);
    rng.integers(idx.data(), n, data_.dim(0));
    return take_rows(data_, idx);
  }

 private:
  std::string name_;
  Tensor data_;
};

}  // namespace

std::unique_ptr<Dataset> tensor_dataset(const std::string& name, Tensor samples) {
  if (samples.ndim() < 2 || samples.dim(0) < 1) throw std::runtime_error(name + ": need at least one sample (N x D)");
  return std::make_unique<TensorDataset>(name, std::move(samples));
}

std::unique_ptr<Dataset> open_dataset(const std::string& spec) {
  if (is_toy2d(spec)) return std::make_unique<ToyDataset>(spec);
  std::string ext = std::filesystem::path(spec).extension().string();
  if (ext == ".npy" || ext == ".csv") return tensor_dataset(spec, load_data_file(spec));
  std::string names;
  for (const std::string& n : toy2d_names()) names += (names.empty() ? "" : ", ") + n;
  throw std::runtime_error("unknown dataset '" + spec + "': give a .npy or .csv file, or one of " + names);
}

}  // namespace fm
