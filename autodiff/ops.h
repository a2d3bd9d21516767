// autodiff/ops.h: differentiable operations on Vars. Each op's forward and backward rule sit
// side by side in one function in autodiff/ops_*.cpp.
//
// Broadcasting binary ops follow NumPy's rules; their backward rules sum gradients back to each
// input's shape in one central place (accumulate_grad).
#pragma once
#include <vector>

#include "autodiff/var.h"
#include "tensor/ops.h"

namespace fm {

// ---- elementwise (ops_elementwise.cpp) --------------------------------------------------------
Var add(const Var& a, const Var& b);
Var sub(const Var& a, const Var& b);
Var mul(const Var& a, const Var& b);
Var div(const Var& a, const Var& b);
Var scale(const Var& x, float s);       // s * x
Var add_scalar(const Var& x, float s);  // x + s
Var unary(UnaryOp op, const Var& x);
inline Var neg(const Var& x) { return unary(UnaryOp::Neg, x); }
inline Var exp(const Var& x) { return unary(UnaryOp::Exp, x); }
inline Var log(const Var& x) { return unary(UnaryOp::Log, x); }
inline Var sqrt(const Var& x) { return unary(UnaryOp::Sqrt, x); }
inline Var square(const Var& x) { return unary(UnaryOp::Square, x); }
inline Var tanh(const Var& x) { return unary(UnaryOp::Tanh, x); }
inline Var sigmoid(const Var& x) { return unary(UnaryOp::Sigmoid, x); }
inline Var silu(const Var& x) { return unary(UnaryOp::Silu, x); }

// ---- reductions and losses (ops_elementwise.cpp) --------------------------------------------
Var sum(const Var& x);                                 // all elements -> shape []
Var sum(const Var& x, int axis, bool keepdim = false);
Var mean(const Var& x);                                // all elements -> shape []
Var mse_loss(const Var& pred, const Tensor& target);   // mean((pred - target)^2) -> shape []

// ---- linear algebra (ops_linalg.cpp) --------------------------------------------------------
Var matmul(const Var& a, const Var& b, bool trans_a = false, bool trans_b = false);
// y = x W^T + b for x [B, in], W [out, in] (PyTorch's layout), b [out] (may be undefined).
Var linear(const Var& x, const Var& W, const Var& b);

// ---- shape (ops_shape.cpp) ------------------------------------------------------------------
Var reshape(const Var& x, const Shape& shape);
Var concat(const std::vector<Var>& parts, int axis);
Var slice(const Var& x, int axis, int64_t begin, int64_t end);

}  // namespace fm
