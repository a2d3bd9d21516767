// tensor/ops.h: the CPU kernels on whole tensors (no autodiff here; see autodiff/ops.h).
//
// Functions return new tensors; names ending in '_' work in place. Binary ops broadcast with
// NumPy's rules (align trailing dimensions; a dimension of 1 stretches).
#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace fm {

// ---- elementwise ----------------------------------------------------------------------------
enum class UnaryOp { Neg, Exp, Log, Sqrt, Square, Tanh, Sigmoid, Silu, Abs };
enum class BinaryOp { Add, Sub, Mul, Div };

const char* unary_name(UnaryOp op);
Tensor unary(UnaryOp op, const Tensor& x);
// dx = dy * f'(x), given x and y = f(x) (whichever the derivative is cheaper from).
Tensor unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& dy);

Shape broadcast_shape(const Shape& a, const Shape& b);  // throws on incompatible shapes
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
inline Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Add, a, b); }
inline Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Sub, a, b); }
inline Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Mul, a, b); }
inline Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Div, a, b); }

Tensor scale(const Tensor& x, float s);        // s * x
void scale_(Tensor& x, float s);               // x *= s
void add_(Tensor& y, const Tensor& x);         // y += x (same numel)
void axpy_(float alpha, const Tensor& x, Tensor& y);  // y += alpha * x (same numel)

// ---- reductions (deterministic: independent of the thread count) ----------------------------
double sum_all(const Tensor& x);
double dot(const Tensor& a, const Tensor& b);
// Sum over axis; keepdim leaves a 1 in its place.
Tensor sum(const Tensor& x, int axis, bool keepdim = false);
// Sums a broadcast result back to `shape` (the un-broadcast that every binary backward needs).
Tensor sum_to(const Tensor& x, const Shape& shape);
bool all_finite(const Tensor& x);

// ---- linear algebra -------------------------------------------------------------------------
// op(a) @ op(b) for 2-D tensors, op = transpose when the flag is set.
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);
// Batched: a [..., M, K] @ b [..., K, N] with equal leading dims (flags transpose the last two).
Tensor bmm(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);

// ---- layout ---------------------------------------------------------------------------------
Tensor concat(const std::vector<Tensor>& parts, int axis);
Tensor slice(const Tensor& x, int axis, int64_t begin, int64_t end);
// Writes `part` into out[..., begin:begin+part.dim(axis), ...] (the inverse of slice).
void slice_assign_(Tensor& out, const Tensor& part, int axis, int64_t begin);
Tensor transpose2d(const Tensor& x);
// Gathers rows: out[i] = x[index[i]] along the leading axis.
Tensor take_rows(const Tensor& x, const std::vector<int64_t>& index);

}  // namespace fm
