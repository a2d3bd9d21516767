// nn/linear.h: the fully connected layer y = x W^T + b.
#pragma once
#include "nn/module.h"
#include "tensor/random.h"

namespace fm {

class Linear : public Module {
 public:
  // PyTorch's default initialisation: W and b ~ U(-1/sqrt(in), 1/sqrt(in)), which is what
  // kaiming_uniform_(a = sqrt(5)) works out to for the weight.
  Linear(int64_t in, int64_t out, Rng& rng, bool bias = true);
  Var forward(const Var& x) const;
  void collect(const std::string& prefix, std::vector<Param>& out) const override;

  Var weight;  // [out, in]
  Var bias;    // [out], undefined without bias
};

}  // namespace fm
