// tensor/tensor.h: a float32, N-dimensional, contiguous tensor.
//
// A Tensor is a shape plus a window (offset, numel) into a reference-counted Storage. Reshaping
// and taking a block of leading rows give views that share the storage; copies are always
// explicit (clone, copy_from). Every tensor is row-major (C order) and contiguous, which keeps
// every kernel a plain loop over a float pointer.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

namespace fm {

enum class Device { CPU, CUDA };

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);  // "[4096, 2]"

// One allocation (tensor/allocator.h). `owned` is false for a view over memory someone else
// manages (Tensor::wrap).
struct Storage {
  float* data = nullptr;
  int64_t numel = 0;
  size_t bytes = 0;  // the allocator's block size
  Device device = Device::CPU;
  bool owned = true;
  ~Storage();
};

class Tensor {
 public:
  Tensor() = default;

  // Creation. `empty` leaves the values uninitialised.
  static Tensor empty(const Shape& shape);
  static Tensor zeros(const Shape& shape);
  static Tensor full(const Shape& shape, float value);
  static Tensor from(const std::vector<float>& values, const Shape& shape);
  static Tensor scalar(float value) { return full({}, value); }
  // A non-owning view of external memory: the caller keeps `data` alive.
  static Tensor wrap(float* data, const Shape& shape);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_[i < 0 ? i + ndim() : i]; }
  int64_t numel() const { return shape_numel(shape_); }
  Device device() const { return storage_ ? storage_->device : Device::CPU; }

  float* data() { return storage_->data + offset_; }
  const float* data() const { return storage_->data + offset_; }
  float item() const;  // the value of a one-element tensor

  // Views (share storage). reshape accepts one -1 dimension to be inferred.
  Tensor reshape(const Shape& shape) const;
  Tensor rows(int64_t begin, int64_t end) const;  // leading-axis block [begin, end)

  // Copies.
  Tensor clone() const;
  void copy_from(const Tensor& src);  // same numel required
  void fill(float value);

  bool shares_storage(const Tensor& other) const { return storage_ == other.storage_; }

 private:
  std::shared_ptr<Storage> storage_;
  int64_t offset_ = 0;
  Shape shape_;
};

// Throws std::runtime_error with a message naming `what` if the shapes differ.
void check_same_shape(const Tensor& a, const Tensor& b, const char* what);
// The same for a gradient buffer handed to a backward kernel; nullptr (not wanted) always passes.
void check_grad_shape(const Tensor* g, const Shape& want, const char* what);

}  // namespace fm
