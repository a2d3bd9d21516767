// nn/conv.h: the convolutional building blocks of the U-Net: Conv2d and GroupNorm modules.
#pragma once
#include "nn/module.h"
#include "tensor/random.h"

namespace fm {

// torch.nn.Conv2d(in, out, k, stride, padding=k/2 or given). Weight [out, in, k, k], bias [out].
// PyTorch's default initialisation: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
// fan_in = in * k * k (kaiming_uniform_ with a = sqrt(5) works out to that bound).
class Conv2d : public Module {
 public:
  Conv2d(int64_t in, int64_t out, int64_t k, Rng& rng, int stride = 1, int pad = -1);
  Var forward(const Var& x) const;
  // forward(x) + sample_bias[:, :, None, None] + residual, the additions fused into the output.
  Var forward(const Var& x, const Var& sample_bias, const Var& residual) const;
  void collect(const std::string& prefix, std::vector<Param>& out) const override;

  Var weight, bias;
  int stride, pad;
};

// torch.nn.GroupNorm(groups, C): weight ones, bias zeros, eps 1e-5.
class GroupNorm : public Module {
 public:
  GroupNorm(int64_t groups, int64_t channels);
  Var forward(const Var& x) const;
  Var forward_silu(const Var& x) const;  // silu(forward(x)), fused
  void collect(const std::string& prefix, std::vector<Param>& out) const override;

  int64_t groups;
  Var weight, bias;
};

}  // namespace fm
