// nn/class_embedding.h: class conditioning and classifier-free guidance (Ho & Salimans 2022).
//
// A class-conditional field v(x, t | y) knows K classes and one more label, "no class" (∅, index
// K). Training replaces each sample's label by ∅ with probability p (fm train --cond-drop), so one
// network learns both the conditional field v(x, t | y) and the unconditional one v(x, t | ∅).
// Sampling then follows the guided field
//     v_w(x, t | y) = (1 + w) v(x, t | y) - w v(x, t | ∅)
// (Ho & Salimans eq. 6 with their w; Meta's flow_matching examples use the same w). w = 0 is the
// plain conditional field, a proper CNF for log p(x | y); minRF's "cfg scale" is 1 + w.
//
// The label enters as a learned vector e_y, a row of a [K + 1, E] table (torch.nn.Embedding's
// layout and N(0, 1) initialisation), added to the time embedding. Labels travel as one-hot rows
// [B, K + 1] built on the host and uploaded once per batch or solve, so the lookup is a matmul
// onehot . table whose backward, onehot^T . g, adds each row's gradient to its class's row: no
// gather or scatter kernel on any backend.
#pragma once
#include <vector>

#include "nn/module.h"

namespace fm {

class ClassEmbedding : public Module {
 public:
  ClassEmbedding(int64_t classes, int64_t dim, Rng& rng);  // a table of classes + 1 rows (the last: ∅)
  Var forward(const Tensor& onehot) const;                 // [B, K + 1] -> e_y [B, dim]
  void collect(const std::string& prefix, std::vector<Param>& out) const override;  // "<prefix>weight"
  int64_t classes() const { return weight.dim(0) - 1; }

  Var weight;  // [K + 1, dim]
};

// One-hot rows [B, K + 1] on `device` for labels in 0..K (K is ∅). Throws std::runtime_error
// naming the first label out of range.
Tensor class_onehot(const std::vector<int64_t>& labels, int64_t classes, Device device = Device::CPU);

// The ∅ rows of a batch of B, as forward(x, t) of a conditional model needs them, kept while B
// and the device stay the same (an ODE solve calls the field hundreds of times with one B).
class NullOnehotCache {
 public:
  const Tensor& get(int64_t batch, int64_t classes, Device device) const;

 private:
  mutable Tensor rows_;
};

// The one-hot rows of a guided evaluation of B samples: [B, K + 1] for w = 0, else the labels'
// rows followed by B rows of ∅ ([2B, K + 1]), so that both fields come from one forward pass.
Tensor guidance_onehot(const std::vector<int64_t>& labels, int64_t classes, double w, Device device = Device::CPU);

// v_w(x, t | y) from a class-conditional model, `onehot` being guidance_onehot(labels, K, w): one
// forward pass over the batch twice (x and t repeated) when w != 0. Differentiable in x.
Var guided_forward(const FieldModel& model, const Var& x, const Tensor& t, const Tensor& onehot, double w);

}  // namespace fm
