// nn/mlp.h: the MLP vector field for D-dimensional data.
//
//   v(x, t) = Linear(W, D) . [SiLU . Linear(W, W)] x (depth - 2) . SiLU . Linear(D + 1, W) ([x, t])
//
// With width 512 and depth 5 (five Linear layers) this is the paper's 2-D model: 791,042
// parameters for D = 2. The equivalent PyTorch module is
//   net = nn.Sequential(nn.Linear(D+1, W), nn.SiLU(), nn.Linear(W, W), nn.SiLU(), ..., nn.Linear(W, D))
// so parameters are named net.0.weight, net.0.bias, net.2.weight, ... like its state_dict
// (a wrapper module holding it as `self.net`).
//
// With K classes (fm train --conditional) a class embedding e_y (nn/class_embedding.h, "class_emb",
// [K + 1, W]) is added to the first layer's output, where the time enters:
//   h_0 = Linear(D + 1, W)([x, t]) + e_y
#pragma once
#include <memory>
#include <vector>

#include "nn/class_embedding.h"
#include "nn/linear.h"

namespace fm {

// The config JSON of an MLP field: {"model": "mlp", "dim": D, "width": W, "depth": L}, and
// "classes": K for a class-conditional one (K > 0).
Json mlp_config(int64_t dim, int64_t width, int64_t depth, int64_t classes = 0);

class MlpField : public FieldModel {
 public:
  MlpField(int64_t dim, int64_t width, int64_t depth, Rng& rng, int64_t classes = 0);
  Var forward(const Var& x, const Tensor& t, Rng* dropout = nullptr) const override;  // no stochastic layers
  int64_t num_classes() const override { return class_emb_ ? class_emb_->classes() : 0; }
  Var forward_class(const Var& x, const Tensor& t, const Tensor& onehot, Rng* dropout = nullptr) const override;
  Json config() const override;
  void collect(const std::string& prefix, std::vector<Param>& out) const override;

  int64_t dim() const { return dim_; }

 private:
  int64_t dim_, width_, depth_;
  std::vector<Linear> layers_;
  std::unique_ptr<ClassEmbedding> class_emb_;  // null without classes
  NullOnehotCache null_onehot_;

  Var forward_impl(const Var& x, const Tensor& t, const Tensor* onehot) const;
};

}  // namespace fm
