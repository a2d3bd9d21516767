// nn/mlp.h: the MLP vector field for D-dimensional data.
//
//   v(x, t) = Linear(W, D) . [SiLU . Linear(W, W)] x (depth - 2) . SiLU . Linear(D + 1, W) ([x, t])
//
// With width 512 and depth 5 (five Linear layers) this is the paper's 2-D model: 791,042
// parameters for D = 2. The equivalent PyTorch module is
//   net = nn.Sequential(nn.Linear(D+1, W), nn.SiLU(), nn.Linear(W, W), nn.SiLU(), ..., nn.Linear(W, D))
// so parameters are named net.0.weight, net.0.bias, net.2.weight, ... like its state_dict
// (a wrapper module holding it as `self.net`).
#pragma once
#include <memory>
#include <vector>

#include "nn/linear.h"

namespace fm {

// The config JSON of an MLP field: {"model": "mlp", "dim": D, "width": W, "depth": L}.
Json mlp_config(int64_t dim, int64_t width, int64_t depth);

class MlpField : public FieldModel {
 public:
  MlpField(int64_t dim, int64_t width, int64_t depth, Rng& rng);
  Var forward(const Var& x, const Tensor& t, Rng* dropout = nullptr) const override;  // no stochastic layers
  Json config() const override;
  void collect(const std::string& prefix, std::vector<Param>& out) const override;

  int64_t dim() const { return dim_; }

 private:
  int64_t dim_, width_, depth_;
  std::vector<Linear> layers_;
};

}  // namespace fm
