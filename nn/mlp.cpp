// nn/mlp.cpp
#include "nn/mlp.h"

#include <stdexcept>

#include "autodiff/ops.h"

namespace fm {

MlpField::MlpField(int64_t dim, int64_t width, int64_t depth, Rng& rng) : dim_(dim), width_(width), depth_(depth) {
  if (dim < 1 || width < 1 || depth < 2)
    throw std::runtime_error("MLP needs dim >= 1, width >= 1 and depth >= 2 (got " + std::to_string(dim) + ", " +
                             std::to_string(width) + ", " + std::to_string(depth) + ")");
  for (int64_t i = 0; i < depth; ++i) {
    int64_t in = i == 0 ? dim + 1 : width, out = i == depth - 1 ? dim : width;
    layers_.emplace_back(in, out, rng);
  }
}

Var MlpField::forward(const Var& x, const Tensor& t, Rng*) const {
  if (x.ndim() != 2 || x.dim(1) != dim_)
    throw std::runtime_error("MLP field expects x of shape [B, " + std::to_string(dim_) + "], got " + shape_str(x.shape()));
  if (t.numel() != x.dim(0)) throw std::runtime_error("MLP field: need one time per sample");
  Var h = concat({x, Var(t.reshape({x.dim(0), 1}))}, 1);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = layers_[i].forward(h);
    if (i + 1 < layers_.size()) h = silu(h);
  }
  return h;
}

Json mlp_config(int64_t dim, int64_t width, int64_t depth) {
  Json c = Json::Object{};
  c.set("model", "mlp");
  c.set("dim", dim);
  c.set("width", width);
  c.set("depth", depth);
  return c;
}

Json MlpField::config() const { return mlp_config(dim_, width_, depth_); }

void MlpField::collect(const std::string& prefix, std::vector<Param>& out) const {
  // Sequential indices: Linear layers sit at 0, 2, 4, ... with SiLU modules between them.
  for (size_t i = 0; i < layers_.size(); ++i) layers_[i].collect(prefix + "net." + std::to_string(2 * i) + ".", out);
}

}  // namespace fm
