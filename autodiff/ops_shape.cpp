// autodiff/ops_shape.cpp: reshape, concat and slice. Their backward rules only move numbers.
#include "autodiff/ops.h"
#include "tensor/profile.h"

namespace fm {

// y = x viewed with a new shape    dx += dy viewed with x's shape
Var reshape(const Var& x, const Shape& shape) {
  FM_PROFILE("reshape");
  Shape in = x.shape();
  return make_result(x.value().reshape(shape), {x}, "reshape", [in](Node& n) {
    accumulate_grad(*n.parents[0], n.grad.reshape(in), false);
  });
}

// y = [x_0, x_1, ...] along axis    dx_i += the matching slice of dy
Var concat(const std::vector<Var>& parts, int axis) {
  FM_PROFILE("concat");
  std::vector<Tensor> values;
  std::vector<int64_t> sizes;
  for (const Var& p : parts) {
    values.push_back(p.value());
    sizes.push_back(p.value().dim(axis));
  }
  return make_result(fm::concat(values, axis), parts, "concat", [sizes, axis](Node& n) {
    int64_t begin = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (needs_grad(n, i)) accumulate_grad(*n.parents[i], fm::slice(n.grad, axis, begin, begin + sizes[i]), true);
      begin += sizes[i];
    }
  });
}

// y = x[..., begin:end, ...]    dx[..., begin:end, ...] += dy, zero elsewhere
Var slice(const Var& x, int axis, int64_t begin, int64_t end) {
  FM_PROFILE("slice");
  return make_result(fm::slice(x.value(), axis, begin, end), {x}, "slice", [axis, begin](Node& n) {
    Node& p = *n.parents[0];
    Tensor g = Tensor::zeros(p.value.shape(), p.value.device());
    slice_assign_(g, n.grad, axis, begin);
    accumulate_grad(p, g, true);
  });
}

}  // namespace fm
