// tensor/tensor.cpp: storage allocation, views and copies, within a device and between devices.
#include "tensor/tensor.h"

#include <stdexcept>

#include "cuda/device.h"
#include "tensor/allocator.h"
#include "tensor/cpu/kernels.h"

namespace fm {

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_str(const Shape& shape, ShapeStyle style) {
  const bool list = style == ShapeStyle::List;
  std::string s = list ? "[" : "";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? (list ? ", " : "x") : "") + std::to_string(shape[i]);
  return list ? s + "]" : s;
}

Storage::~Storage() { free_block(device, {data, bytes}); }

namespace {

// n floats from src to dst, each on its device. Host to host runs in parallel chunks.
void copy_floats(float* dst, Device dst_dev, const float* src, Device src_dev, int64_t n) {
  if (n <= 0 || dst == src) return;
  if (dst_dev == Device::CPU && src_dev == Device::CPU) return cpu::copy_floats(dst, src, n);
  const cuda::Copy kind = src_dev == Device::CPU   ? cuda::Copy::HostToDevice
                          : dst_dev == Device::CPU ? cuda::Copy::DeviceToHost
                                                   : cuda::Copy::DeviceToDevice;
  cuda::copy(dst, src, size_t(n) * sizeof(float), kind);
}

}  // namespace

Tensor Tensor::empty(const Shape& shape, Device device) {
  for (int64_t d : shape)
    if (d < 0) throw std::runtime_error("negative dimension in shape " + shape_str(shape));
  Tensor t;
  t.storage_ = std::make_shared<Storage>();
  t.storage_->numel = shape_numel(shape);
  const Block block = alloc_block(device, t.storage_->numel);
  t.storage_->data = block.data;
  t.storage_->bytes = block.bytes;
  t.storage_->device = device;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::zeros(const Shape& shape, Device device) { return full(shape, 0.0f, device); }

Tensor Tensor::full(const Shape& shape, float value, Device device) {
  Tensor t = empty(shape, device);
  t.fill(value);
  return t;
}

Tensor Tensor::from(const std::vector<float>& values, const Shape& shape, Device device) {
  if (static_cast<int64_t>(values.size()) != shape_numel(shape))
    throw std::runtime_error("Tensor::from: " + std::to_string(values.size()) +
                             " values do not fill shape " + shape_str(shape));
  Tensor t = empty(shape, device);
  copy_floats(t.raw(), device, values.data(), Device::CPU, int64_t(values.size()));
  return t;
}

float* Tensor::data() {
  if (device() != Device::CPU)
    throw std::runtime_error(std::string("data(): the tensor ") + shape_str(shape_) + " is in " + device_name(device()) +
                             " memory, not host memory (copy it with .to(Device::CPU) first)");
  return raw();
}

const float* Tensor::data() const { return const_cast<Tensor*>(this)->data(); }

float* Tensor::device_data() {
  if (device() != Device::CUDA)
    throw std::runtime_error(std::string("device_data(): the tensor ") + shape_str(shape_) + " is in " +
                             device_name(device()) + " memory, not CUDA memory");
  return raw();
}

const float* Tensor::device_data() const { return const_cast<Tensor*>(this)->device_data(); }

float Tensor::item() const {
  if (numel() != 1) throw std::runtime_error("item() needs one element, shape is " + shape_str(shape_));
  return at(0);
}

float Tensor::at(int64_t i) const {
  if (i < 0 || i >= numel())
    throw std::runtime_error("at(" + std::to_string(i) + ") out of range for shape " + shape_str(shape_));
  float v;
  copy_floats(&v, Device::CPU, raw() + i, device(), 1);
  return v;
}

void Tensor::set_at(int64_t i, float value) {
  if (i < 0 || i >= numel())
    throw std::runtime_error("set_at(" + std::to_string(i) + ") out of range for shape " + shape_str(shape_));
  copy_floats(raw() + i, device(), &value, Device::CPU, 1);
}

std::vector<float> Tensor::to_vector() const {
  std::vector<float> out(static_cast<size_t>(numel()));
  copy_floats(out.data(), Device::CPU, raw(), device(), numel());
  return out;
}

Tensor Tensor::to(Device target) const {
  if (target == device()) return *this;
  Tensor t = empty(shape_, target);
  t.copy_from(*this);
  return t;
}

Tensor Tensor::reshape(const Shape& shape) const {
  Shape s = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      if (infer >= 0) throw std::runtime_error("reshape: more than one -1 in " + shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0 && known > 0) s[infer] = numel() / known;
  if (shape_numel(s) != numel())
    throw std::runtime_error("reshape: cannot view " + shape_str(shape_) + " as " + shape_str(shape));
  Tensor t = *this;
  t.shape_ = s;
  return t;
}

Tensor Tensor::rows(int64_t begin, int64_t end) const {
  if (ndim() == 0 || begin < 0 || end > shape_[0] || begin > end)
    throw std::runtime_error("rows(" + std::to_string(begin) + ", " + std::to_string(end) +
                             ") out of range for shape " + shape_str(shape_));
  int64_t row = shape_[0] ? numel() / shape_[0] : 0;
  Tensor t = *this;
  t.offset_ += begin * row;
  t.shape_[0] = end - begin;
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, device());
  t.copy_from(*this);
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  if (src.numel() != numel())
    throw std::runtime_error("copy_from: " + shape_str(src.shape_) + " into " + shape_str(shape_));
  copy_floats(raw(), device(), src.raw(), src.device(), numel());
}

void Tensor::fill(float value) {
  if (device() != Device::CPU) return cuda::fill(raw(), value, size_t(numel()));
  cpu::fill_floats(raw(), value, numel());
}

void check_same_shape(const Tensor& a, const Tensor& b, const char* what) {
  if (a.shape() != b.shape())
    throw std::runtime_error(std::string(what) + ": shapes differ, " + shape_str(a.shape()) + " vs " +
                             shape_str(b.shape()));
}

void check_grad_shape(const Tensor* g, const Shape& want, const char* what) {
  if (g && g->shape() != want)
    throw std::runtime_error(std::string(what) + ": got " + shape_str(g->shape()) + ", expected " + shape_str(want));
}

}  // namespace fm
