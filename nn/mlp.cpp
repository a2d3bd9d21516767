// nn/mlp.cpp
#include "nn/mlp.h"

#include <stdexcept>

#include "autodiff/ops.h"

namespace fm {

MlpField::MlpField(int64_t dim, int64_t width, int64_t depth, Rng& rng, int64_t classes) : dim_(dim), width_(width), depth_(depth) {
  if (dim < 1 || width < 1 || depth < 2)
    throw std::runtime_error("MLP needs dim >= 1, width >= 1 and depth >= 2 (got " + std::to_string(dim) + ", " +
                             std::to_string(width) + ", " + std::to_string(depth) + ")");
  for (int64_t i = 0; i < depth; ++i) {
    int64_t in = i == 0 ? dim + 1 : width, out = i == depth - 1 ? dim : width;
    layers_.emplace_back(in, out, rng);
  }
  if (classes < 0) throw std::runtime_error("MLP: the number of classes must be >= 0");
  if (classes > 0) class_emb_ = std::make_unique<ClassEmbedding>(classes, width, rng);  // last: unconditional inits unchanged
}

Var MlpField::forward(const Var& x, const Tensor& t, Rng*) const {
  if (!class_emb_) return forward_impl(x, t, nullptr);
  return forward_impl(x, t, &null_onehot_.get(x.dim(0), num_classes(), class_emb_->weight.value().device()));
}

Var MlpField::forward_class(const Var& x, const Tensor& t, const Tensor& onehot, Rng*) const {
  if (!class_emb_) return FieldModel::forward_class(x, t, onehot);
  if (onehot.ndim() != 2 || onehot.dim(0) != x.dim(0))
    throw std::runtime_error("MLP field: need one one-hot label row per sample, got " + shape_str(onehot.shape()));
  return forward_impl(x, t, &onehot);
}

Var MlpField::forward_impl(const Var& x, const Tensor& t, const Tensor* onehot) const {
  if (x.ndim() != 2 || x.dim(1) != dim_)
    throw std::runtime_error("MLP field expects x of shape [B, " + std::to_string(dim_) + "], got " + shape_str(x.shape()));
  if (t.numel() != x.dim(0)) throw std::runtime_error("MLP field: need one time per sample");
  Var h = concat({x, Var(t.reshape({x.dim(0), 1}))}, 1);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = layers_[i].forward(h);
    if (i == 0 && onehot) h = add(h, class_emb_->forward(*onehot));
    if (i + 1 < layers_.size()) h = silu(h);
  }
  return h;
}

Json mlp_config(int64_t dim, int64_t width, int64_t depth, int64_t classes) {
  Json c = Json::Object{};
  c.set("model", "mlp");
  c.set("dim", dim);
  c.set("width", width);
  c.set("depth", depth);
  if (classes > 0) c.set("classes", classes);
  return c;
}

Json MlpField::config() const { return mlp_config(dim_, width_, depth_, num_classes()); }

void MlpField::collect(const std::string& prefix, std::vector<Param>& out) const {
  // Sequential indices: Linear layers sit at 0, 2, 4, ... with SiLU modules between them.
  for (size_t i = 0; i < layers_.size(); ++i) layers_[i].collect(prefix + "net." + std::to_string(2 * i) + ".", out);
  if (class_emb_) class_emb_->collect(prefix + "class_emb.", out);
}

}  // namespace fm
