// nn/module.cpp
#include "nn/module.h"

#include <stdexcept>

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

void Module::to(Device device) {
  for (const Param& p : parameters()) {
    Node& node = *p.var.node();
    node.value = node.value.to(device);
    node.grad = Tensor();
  }
}

Device Module::device() const {
  const std::vector<Param> params = parameters();
  return params.empty() ? Device::CPU : params[0].var.value().device();
}

void zero_grad(const std::vector<Param>& params) {
  for (const Param& p : params) p.var.node()->grad = Tensor();
}

}  // namespace fm

namespace fm {

Var FieldModel::forward_class(const Var&, const Tensor&, const Tensor&, Rng*) const {
  throw std::runtime_error("this model has no classes: it was not trained with fm train --conditional");
}

}  // namespace fm
