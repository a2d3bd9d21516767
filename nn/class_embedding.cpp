// nn/class_embedding.cpp
#include "nn/class_embedding.h"

#include <stdexcept>

#include "autodiff/ops.h"

namespace fm {

ClassEmbedding::ClassEmbedding(int64_t classes, int64_t dim, Rng& rng) {
  if (classes < 1 || dim < 1) throw std::runtime_error("class embedding: need at least one class and one dimension");
  Tensor w = Tensor::empty({classes + 1, dim});
  rng.normal(w);  // torch.nn.Embedding's N(0, 1)
  weight = Var::param(w);
}

Var ClassEmbedding::forward(const Tensor& onehot) const {
  if (onehot.ndim() != 2 || onehot.dim(1) != weight.dim(0))
    throw std::runtime_error("class embedding: expected one-hot rows [B, " + std::to_string(weight.dim(0)) + "], got " +
                             shape_str(onehot.shape()));
  return matmul(Var(onehot), weight);  // row b picks weight[y_b]; the gradient adds back into that row
}

void ClassEmbedding::collect(const std::string& prefix, std::vector<Param>& out) const { out.push_back({prefix + "weight", weight}); }

namespace {
// Writes labels[i] (0..K) as row `first + i` of the [rows, K + 1] host buffer `h`.
void write_onehot(std::vector<float>& h, int64_t first, const std::vector<int64_t>& labels, int64_t classes) {
  for (size_t i = 0; i < labels.size(); ++i) {
    const int64_t y = labels[i];
    if (y < 0 || y > classes)
      throw std::runtime_error("class label " + std::to_string(y) + " (sample " + std::to_string(i) + ") is out of range: the model has " +
                               std::to_string(classes) + " classes, 0.." + std::to_string(classes - 1));
    h[size_t((first + int64_t(i)) * (classes + 1) + y)] = 1.0f;
  }
}
}  // namespace

Tensor class_onehot(const std::vector<int64_t>& labels, int64_t classes, Device device) {
  const int64_t B = int64_t(labels.size());
  std::vector<float> h(size_t(B * (classes + 1)), 0.0f);
  write_onehot(h, 0, labels, classes);
  return Tensor::from(h, {B, classes + 1}, device);
}

const Tensor& NullOnehotCache::get(int64_t batch, int64_t classes, Device device) const {
  if (!rows_.defined() || rows_.dim(0) != batch || rows_.dim(1) != classes + 1 || rows_.device() != device)
    rows_ = class_onehot(std::vector<int64_t>(size_t(batch), classes), classes, device);
  return rows_;
}

Tensor guidance_onehot(const std::vector<int64_t>& labels, int64_t classes, double w, Device device) {
  if (w == 0.0) return class_onehot(labels, classes, device);
  const int64_t B = int64_t(labels.size());
  std::vector<float> h(size_t(2 * B * (classes + 1)), 0.0f);
  write_onehot(h, 0, labels, classes);
  write_onehot(h, B, std::vector<int64_t>(size_t(B), classes), classes);
  return Tensor::from(h, {2 * B, classes + 1}, device);
}

Var guided_forward(const FieldModel& model, const Var& x, const Tensor& t, const Tensor& onehot, double w) {
  if (w == 0.0) return model.forward_class(x, t, onehot);
  const int64_t B = x.dim(0);
  if (onehot.dim(0) != 2 * B)
    throw std::runtime_error("guided_forward: " + std::to_string(onehot.dim(0)) + " one-hot rows for " + std::to_string(B) +
                             " samples with guidance (need 2B: guidance_onehot)");
  // [x; x] at [t; t] under [y; ∅]: the conditional and unconditional fields in one pass.
  const Var v = model.forward_class(concat({x, x}, 0), concat({t.reshape({B}), t.reshape({B})}, 0), onehot);
  return sub(scale(slice(v, 0, 0, B), float(1.0 + w)), scale(slice(v, 0, B, 2 * B), float(w)));
}

}  // namespace fm
