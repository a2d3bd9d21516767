// dist/grad_sync.cpp
#include "dist/grad_sync.h"

#include <stdexcept>

#include "dist/dist.h"
#include "tensor/ops.h"

namespace fm::dist {

GradSync::GradSync(const std::vector<Shape>& shapes, Device device, int64_t bucket_floats) : shapes_(shapes) {
  std::vector<int64_t> sizes{0};
  for (const Shape& s : shapes_) {
    const int64_t n = shape_numel(s);
    if (sizes.back() > 0 && sizes.back() + n > bucket_floats) sizes.push_back(0);
    slots_.push_back({int64_t(sizes.size()) - 1, sizes.back()});
    sizes.back() += n;
  }
  sizes.back() += 1;  // the loss
  for (int64_t n : sizes) buckets_.push_back(Tensor::empty({n}, device));
}

Tensor GradSync::average(const std::vector<Tensor*>& grads, const Tensor& loss) {
  if (grads.size() != shapes_.size()) throw std::runtime_error("GradSync: " + std::to_string(grads.size()) + " gradients for " + std::to_string(shapes_.size()) + " parameters");
  const int n = size();
  if (n == 1) return loss;
  for (size_t i = 0; i < grads.size(); ++i) {
    const Slot& s = slots_[i];
    Tensor view = buckets_[s.bucket].rows(s.offset, s.offset + shape_numel(shapes_[i])).reshape(shapes_[i]);
    if (grads[i]->defined()) view.copy_from(*grads[i]); else view.fill(0.0f);
  }
  Tensor& last = buckets_.back();
  last.rows(last.numel() - 1, last.numel()).copy_from(loss.reshape({1}));
  for (Tensor& b : buckets_) {
    allreduce_sum(b);
    scale_(b, 1.0f / float(n));
  }
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i]->defined()) continue;
    const Slot& s = slots_[i];
    *grads[i] = buckets_[s.bucket].rows(s.offset, s.offset + shape_numel(shapes_[i])).reshape(shapes_[i]);
  }
  return last.rows(last.numel() - 1, last.numel()).reshape({});
}

}  // namespace fm::dist
