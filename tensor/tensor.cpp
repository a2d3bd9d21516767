// tensor/tensor.cpp: storage allocation, views and copies.
#include "tensor/tensor.h"

#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "tensor/allocator.h"
#include "tensor/cpu/parallel.h"

namespace fm {

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Storage::~Storage() {
  if (owned) free_block({data, bytes});
}

Tensor Tensor::empty(const Shape& shape) {
  for (int64_t d : shape)
    if (d < 0) throw std::runtime_error("negative dimension in shape " + shape_str(shape));
  Tensor t;
  t.storage_ = std::make_shared<Storage>();
  t.storage_->numel = shape_numel(shape);
  const HostBlock block = alloc_block(t.storage_->numel);
  t.storage_->data = block.data;
  t.storage_->bytes = block.bytes;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::zeros(const Shape& shape) { return full(shape, 0.0f); }

Tensor Tensor::full(const Shape& shape, float value) {
  Tensor t = empty(shape);
  t.fill(value);
  return t;
}

Tensor Tensor::from(const std::vector<float>& values, const Shape& shape) {
  if (static_cast<int64_t>(values.size()) != shape_numel(shape))
    throw std::runtime_error("Tensor::from: " + std::to_string(values.size()) +
                             " values do not fill shape " + shape_str(shape));
  Tensor t = empty(shape);
  std::memcpy(t.data(), values.data(), values.size() * sizeof(float));
  return t;
}

Tensor Tensor::wrap(float* data, const Shape& shape) {
  Tensor t;
  t.storage_ = std::make_shared<Storage>();
  t.storage_->data = data;
  t.storage_->numel = shape_numel(shape);
  t.storage_->owned = false;
  t.shape_ = shape;
  return t;
}

float Tensor::item() const {
  if (numel() != 1) throw std::runtime_error("item() needs one element, shape is " + shape_str(shape_));
  return data()[0];
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
  Tensor t = empty(shape_);
  t.copy_from(*this);
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  if (src.numel() != numel())
    throw std::runtime_error("copy_from: " + shape_str(src.shape_) + " into " + shape_str(shape_));
  const float* s = src.data();
  float* d = data();
  if (s == d) return;
  parallel_for(numel(), 1 << 16, [&](int64_t lo, int64_t hi) {
    std::memcpy(d + lo, s + lo, (hi - lo) * sizeof(float));
  });
}

void Tensor::fill(float value) {
  float* d = data();
  parallel_for(numel(), 1 << 16, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) d[i] = value;
  });
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
