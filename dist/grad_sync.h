// dist/grad_sync.h: the one all-reduce of a data-parallel training step.
//
// Each rank holds the gradient of its share of the global batch (a mean over its B/N rows). The
// gradient of the global batch's mean loss is their average, g = (1/N) sum_r g_r, which every rank
// then has, so every rank takes the same optimiser step. The gradients are packed into a few flat
// buckets (not sent tensor by tensor: one message per bucket, not per parameter), the loss rides
// in the last bucket's spare element (so the NaN check sees the global loss on every rank), and
// after the sum each parameter's gradient becomes a view of its bucket (no copy back).
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace fm::dist {

class GradSync {
 public:
  // Buckets for gradients of these shapes on `device`; at most `bucket_floats` per bucket (a
  // parameter larger than that gets a bucket of its own).
  GradSync(const std::vector<Shape>& shapes, Device device, int64_t bucket_floats = int64_t(1) << 23);

  // Replaces each *grads[i] (of shapes[i], or undefined: a parameter the step did not reach, left
  // undefined) by the average over the ranks, and returns the mean over the ranks of `loss` (a
  // scalar tensor, this rank's loss) as a scalar on the same device, without reading it back. With
  // one process the gradients stay as they are and `loss` itself is returned. The views stay valid
  // until the next call.
  Tensor average(const std::vector<Tensor*>& grads, const Tensor& loss);

  int64_t buckets() const { return int64_t(buckets_.size()); }

 private:
  struct Slot {
    int64_t bucket, offset;  // where parameter i's gradient lies
  };
  Tensor grad_view(size_t i) const;  // parameter i's part of its bucket, in its shape
  Tensor loss_view() const;          // the last bucket's last element, as a scalar
  std::vector<Shape> shapes_;
  std::vector<Slot> slots_;
  std::vector<Tensor> buckets_;  // flat; the last one has one element more, for the loss
};

}  // namespace fm::dist
