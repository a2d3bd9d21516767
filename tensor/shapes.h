// tensor/shapes.h: the shape rules that every backend shares, so the CPU and CUDA kernels check
// and size their work identically (and say the same thing when a shape does not fit). Each
// throws std::runtime_error naming the op and the shapes.
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace fm {

// A tensor viewed as [outer, size(axis), inner] (the view that makes concat and slice runs of
// contiguous copies). The axis may be negative.
struct AxisView {
  int axis;
  int64_t outer, size, inner;
};
AxisView axis_view(const Shape& s, int axis, const char* op);
// Throws "<op>: range [begin, end) out of bounds for size <size>" unless 0 <= begin <= end <= size.
void check_range(const char* op, int64_t begin, int64_t end, int64_t size);
// The shape of the parts joined along `axis` (equal elsewhere), with the axis made non-negative.
Shape concat_shape(const std::vector<Tensor>& parts, int& axis);

// op(a) [M, K] @ op(b) [K, N], over `batch` equal leading entries (1 for 2-D products); lda and
// ldb are the row strides of a and b (their last dims). `batched`: [..., M, K] of rank >= 3.
struct ProductShape {
  int64_t batch, M, K, N, lda, ldb;
};
ProductShape product_shape(const char* op, const Shape& a, const Shape& b, bool trans_a, bool trans_b, bool batched);
Shape product_out(const Shape& a, const ProductShape& s);  // [..., M, N]

// Sizes of one convolution: x [B, C, H, W] * w [O, C, k, k] -> y [B, O, Ho, Wo] with
// Ho = (H + 2 pad - k) / stride + 1 (PyTorch's rounding down), likewise Wo. Checks a square k,
// stride >= 1, pad >= 0 and a bias [O] if defined.
struct Conv2dShape {
  int64_t B, C, H, W, O, k, stride, pad, Ho, Wo;
};
Conv2dShape conv2d_shape(const Shape& x, const Shape& w, const Tensor& bias, int stride, int pad);

// Group norm of x [B, C, ...]: G groups of cpg = C / G channels of hw elements each; gamma and
// beta [C] when defined.
struct GroupNormShape {
  int64_t B, C, G, cpg, hw;
};
GroupNormShape group_norm_shape(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta);

}  // namespace fm
