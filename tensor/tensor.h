// tensor/tensor.h: a float32, N-dimensional, contiguous tensor on a device.
//
// A Tensor is a shape plus a window (offset, numel) into a reference-counted Storage, which owns
// one block of memory on one device (tensor/device.h). Reshaping and taking a block of leading
// rows give views that share the storage; copies are always explicit (clone, copy_from, to).
// Every tensor is row-major (C order) and contiguous, which keeps every kernel a plain loop over
// a float pointer.
//
// Raw pointers are for the backends' kernels and the data readers only: data() refuses a tensor
// that is not in host memory. Code above the tensor layer goes through the op list (tensor/ops.h)
// and the element accessors here, which work on any device.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tensor/device.h"

namespace fm {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& shape);
// The one shape printer: "[4096, 2]" (List, for messages) or "1x28x28" (Dims, for headers).
enum class ShapeStyle { List, Dims };
std::string shape_str(const Shape& shape, ShapeStyle style = ShapeStyle::List);

// One block from the allocator of its device (tensor/allocator.h), released with the last
// tensor that refers to it.
struct Storage {
  float* data = nullptr;
  int64_t numel = 0;
  size_t bytes = 0;  // the allocator's block size
  Device device = Device::CPU;
  ~Storage();
};

class Tensor {
 public:
  Tensor() = default;

  // Creation on `device` (default: host memory). `empty` leaves the values uninitialised.
  static Tensor empty(const Shape& shape, Device device = Device::CPU);
  static Tensor zeros(const Shape& shape, Device device = Device::CPU);
  static Tensor full(const Shape& shape, float value, Device device = Device::CPU);
  static Tensor from(const std::vector<float>& values, const Shape& shape, Device device = Device::CPU);
  static Tensor scalar(float value, Device device = Device::CPU) { return full({}, value, device); }

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_[i < 0 ? i + ndim() : i]; }
  int64_t numel() const { return shape_numel(shape_); }
  Device device() const { return storage_ ? storage_->device : Device::CPU; }

  // Host memory of a CPU tensor; throws std::runtime_error for a tensor on another device.
  float* data();
  const float* data() const;
  // Device memory of a CUDA tensor, for the CUDA backend's kernels; throws for a host tensor.
  float* device_data();
  const float* device_data() const;

  // Element access on any device (one small copy for device memory): for scalars the host needs
  // and for tests, not for loops over a tensor.
  float item() const;                    // the value of a one-element tensor
  float at(int64_t flat_index) const;    // element i of the row-major order
  void set_at(int64_t flat_index, float value);
  std::vector<float> to_vector() const;  // all elements, copied to the host

  // A copy on `device` (the same tensor when it is already there).
  Tensor to(Device device) const;

  // Views (share storage). reshape accepts one -1 dimension to be inferred.
  Tensor reshape(const Shape& shape) const;
  Tensor rows(int64_t begin, int64_t end) const;  // leading-axis block [begin, end)

  // Copies, on the tensor's own device (copy_from also across devices).
  Tensor clone() const;
  void copy_from(const Tensor& src);  // same numel required
  void fill(float value);

  bool shares_storage(const Tensor& other) const { return storage_ == other.storage_; }

 private:
  float* raw() const { return storage_->data + offset_; }  // any device: for the copies above
  std::shared_ptr<Storage> storage_;
  int64_t offset_ = 0;
  Shape shape_;
};

// Throws std::runtime_error with a message naming `what` if the shapes differ.
void check_same_shape(const Tensor& a, const Tensor& b, const char* what);
// The same for a gradient buffer handed to a backward kernel; nullptr (not wanted) always passes.
void check_grad_shape(const Tensor* g, const Shape& want, const char* what);

}  // namespace fm
