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

Tensor GradSync::grad_view(size_t i) const {
  const Slot& s = slots_[i];
  return buckets_[s.bucket].rows(s.offset, s.offset + shape_numel(shapes_[i])).reshape(shapes_[i]);
}

Tensor GradSync::loss_view() const {
  const Tensor& last = buckets_.back();
  return last.rows(last.numel() - 1, last.numel()).reshape({});
}

Tensor GradSync::average(const std::vector<Tensor*>& grads, const Tensor& loss) {
  if (grads.size() != shapes_.size()) throw std::runtime_error("GradSync: " + std::to_string(grads.size()) + " gradients for " + std::to_string(shapes_.size()) + " parameters");
  const int n = size();
  if (n == 1) return loss;
  for (size_t i = 0; i < grads.size(); ++i) {
    Tensor view = grad_view(i);
    if (grads[i]->defined()) view.copy_from(*grads[i]); else view.fill(0.0f);
  }
  loss_view().copy_from(loss.reshape({}));
  for (Tensor& b : buckets_) {
    allreduce_sum(b);
    scale_(b, 1.0f / float(n));
  }
  for (size_t i = 0; i < grads.size(); ++i)
    if (grads[i]->defined()) *grads[i] = grad_view(i);
  return loss_view();
}

}  // namespace fm::dist
