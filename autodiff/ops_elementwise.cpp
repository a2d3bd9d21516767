// autodiff/ops_elementwise.cpp: arithmetic, activations, reductions and the MSE loss.
#include <cmath>

#include "autodiff/ops.h"
#include "tensor/profile.h"

namespace fm {

// c = a + b      da += dc,   db += dc
Var add(const Var& a, const Var& b) {
  FM_PROFILE("add");
  return make_result(fm::add(a.value(), b.value()), {a, b}, "add", [](Node& n) {
    if (needs_grad(n, 0)) accumulate_grad(*n.parents[0], n.grad, false);
    if (needs_grad(n, 1)) accumulate_grad(*n.parents[1], n.grad, false);
  });
}

// c = a - b      da += dc,   db -= dc
Var sub(const Var& a, const Var& b) {
  FM_PROFILE("sub");
  return make_result(fm::sub(a.value(), b.value()), {a, b}, "sub", [](Node& n) {
    if (needs_grad(n, 0)) accumulate_grad(*n.parents[0], n.grad, false);
    if (needs_grad(n, 1)) accumulate_grad(*n.parents[1], fm::scale(n.grad, -1.0f), true);
  });
}

// c = a * b      da += dc * b,   db += dc * a
Var mul(const Var& a, const Var& b) {
  FM_PROFILE("mul");
  Tensor av = a.value(), bv = b.value();
  return make_result(fm::mul(av, bv), {a, b}, "mul", [av, bv](Node& n) {
    if (needs_grad(n, 0)) accumulate_grad(*n.parents[0], fm::mul(n.grad, bv), true);
    if (needs_grad(n, 1)) accumulate_grad(*n.parents[1], fm::mul(n.grad, av), true);
  });
}

// c = a / b      da += dc / b,   db -= dc * c / b
Var div(const Var& a, const Var& b) {
  FM_PROFILE("div");
  Tensor bv = b.value();
  Tensor c = fm::div(a.value(), bv);
  return make_result(c, {a, b}, "div", [bv, c](Node& n) {
    Tensor g_over_b = fm::div(n.grad, bv);
    if (needs_grad(n, 1)) accumulate_grad(*n.parents[1], fm::scale(fm::mul(g_over_b, c), -1.0f), true);
    if (needs_grad(n, 0)) accumulate_grad(*n.parents[0], g_over_b, true);
  });
}

// y = s x        dx += s dy
Var scale(const Var& x, float s) {
  FM_PROFILE("scale");
  return make_result(fm::scale(x.value(), s), {x}, "scale", [s](Node& n) {
    accumulate_grad(*n.parents[0], fm::scale(n.grad, s), true);
  });
}

// y = x + s      dx += dy
Var add_scalar(const Var& x, float s) {
  FM_PROFILE("add_scalar");
  return make_result(fm::add_scalar(x.value(), s), {x}, "add_scalar", [](Node& n) {
    accumulate_grad(*n.parents[0], n.grad, false);
  });
}

// y = f(x)       dx += dy * f'(x)    (f' is written next to f in tensor/cpu/elementwise.cpp)
Var unary(UnaryOp op, const Var& x) {
  FM_PROFILE(unary_name(op));
  Tensor xv = x.value();
  Tensor y = fm::unary(op, xv);
  return make_result(y, {x}, unary_name(op), [op, xv, y](Node& n) {
    accumulate_grad(*n.parents[0], unary_backward(op, xv, y, n.grad), true);
  });
}

// y = sum_i x_i   dx_i += dy
Var sum(const Var& x) {
  FM_PROFILE("sum");
  Tensor y = Tensor::scalar(static_cast<float>(sum_all(x.value())), x.value().device());
  return make_result(y, {x}, "sum", [](Node& n) {
    Node& p = *n.parents[0];
    accumulate_grad(p, Tensor::full(p.value.shape(), n.grad.item(), p.value.device()), true);
  });
}

// y = sum over one axis   dx += dy broadcast back along that axis
Var sum(const Var& x, int axis, bool keepdim) {
  FM_PROFILE("sum");
  Shape kept = x.shape();
  int a = axis < 0 ? axis + x.ndim() : axis;
  Tensor y = fm::sum(x.value(), axis, keepdim);
  kept[a] = 1;
  return make_result(y, {x}, "sum_axis", [kept](Node& n) {
    Node& p = *n.parents[0];
    accumulate_grad(p, fm::add(Tensor::zeros(p.value.shape(), p.value.device()), n.grad.reshape(kept)), true);
  });
}

// y = (1/N) sum_i x_i   dx_i += dy / N
Var mean(const Var& x) {
  FM_PROFILE("mean");
  double count = static_cast<double>(x.numel());
  Tensor y = Tensor::scalar(static_cast<float>(sum_all(x.value()) / count), x.value().device());
  return make_result(y, {x}, "mean", [count](Node& n) {
    Node& p = *n.parents[0];
    accumulate_grad(p, Tensor::full(p.value.shape(), static_cast<float>(n.grad.item() / count), p.value.device()), true);
  });
}

// L = (1/N) sum_i (p_i - t_i)^2    dp_i += dL * 2 (p_i - t_i) / N
// Fused: the difference is computed once and kept for the backward rule. Neither pass reads a
// number back from the device: L stays a device scalar, and dL (a scalar tensor) multiplies diff
// by broadcasting (for the seed dL = 1 the product is diff exactly, so the result is the same
// bits as scaling by 2 dL / N in one go).
Var mse_loss(const Var& pred, const Tensor& target) {
  FM_PROFILE("mse_loss");
  check_same_shape(pred.value(), target, "mse_loss");
  Tensor diff = fm::sub(pred.value(), target);
  const double count = static_cast<double>(diff.numel());
  return make_result(fm::mean_square(diff), {pred}, "mse_loss", [diff, count](Node& n) {
    Tensor g = fm::mul(diff, n.grad);
    scale_(g, static_cast<float>(2.0 / count));
    accumulate_grad(*n.parents[0], g, true);
  });
}

}  // namespace fm
