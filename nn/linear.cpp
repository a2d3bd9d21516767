// nn/linear.cpp
#include "nn/linear.h"

#include <cmath>

#include "autodiff/ops.h"

namespace fm {

Linear::Linear(int64_t in, int64_t out, Rng& rng, bool with_bias) {
  float bound = 1.0f / std::sqrt(static_cast<float>(in));
  Tensor w = Tensor::empty({out, in});
  rng.uniform(w, -bound, bound);
  weight = Var::param(w);
  if (with_bias) {
    Tensor b = Tensor::empty({out});
    rng.uniform(b, -bound, bound);
    bias = Var::param(b);
  }
}

Var Linear::forward(const Var& x) const { return linear(x, weight, bias); }

void Linear::collect(const std::string& prefix, std::vector<Param>& out) const {
  out.push_back({prefix + "weight", weight});
  if (bias.defined()) out.push_back({prefix + "bias", bias});
}

}  // namespace fm
