// nn/conv.cpp
#include "nn/conv.h"

#include <cmath>
#include <stdexcept>

#include "autodiff/ops_image.h"

namespace fm {

Conv2d::Conv2d(int64_t in, int64_t out, int64_t k, Rng& rng, int stride_, int pad_)
    : stride(stride_), pad(pad_ < 0 ? static_cast<int>(k / 2) : pad_) {
  float bound = 1.0f / std::sqrt(static_cast<float>(in * k * k));
  Tensor w = Tensor::empty({out, in, k, k}), b = Tensor::empty({out});
  rng.uniform(w, -bound, bound);
  rng.uniform(b, -bound, bound);
  weight = Var::param(w);
  bias = Var::param(b);
}

Var Conv2d::forward(const Var& x) const { return conv2d(x, weight, bias, stride, pad); }
Var Conv2d::forward(const Var& x, const Var& sample_bias, const Var& residual) const {
  return conv2d(x, weight, bias, stride, pad, sample_bias, residual);
}

void Conv2d::collect(const std::string& prefix, std::vector<Param>& out) const {
  out.push_back({prefix + "weight", weight});
  out.push_back({prefix + "bias", bias});
}

GroupNorm::GroupNorm(int64_t groups_, int64_t channels) : groups(groups_) {
  if (channels % groups != 0)
    throw std::runtime_error("GroupNorm: " + std::to_string(channels) + " channels do not split into " +
                             std::to_string(groups) + " groups");
  weight = Var::param(Tensor::full({channels}, 1.0f));
  bias = Var::param(Tensor::zeros({channels}));
}

Var GroupNorm::forward(const Var& x) const { return group_norm(x, static_cast<int>(groups), weight, bias); }
Var GroupNorm::forward_silu(const Var& x) const { return group_norm_silu(x, static_cast<int>(groups), weight, bias); }

void GroupNorm::collect(const std::string& prefix, std::vector<Param>& out) const {
  out.push_back({prefix + "weight", weight});
  out.push_back({prefix + "bias", bias});
}

}  // namespace fm
