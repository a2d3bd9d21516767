// nn/module.cpp
#include "nn/module.h"

namespace fm {

std::vector<Param> Module::parameters() const {
  std::vector<Param> out;
  collect("", out);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const Param& p : parameters()) n += p.var.numel();
  return n;
}

void zero_grad(const std::vector<Param>& params) {
  for (const Param& p : params) p.var.node()->grad = Tensor();
}

}  // namespace fm
