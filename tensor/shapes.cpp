// tensor/shapes.cpp: the shape rules every backend shares (tensor/shapes.h).
#include "tensor/shapes.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace fm {

AxisView axis_view(const Shape& s, int axis, const char* op) {
  const int nd = int(s.size());
  if (axis < 0) axis += nd;
  if (axis < 0 || axis >= nd) throw std::runtime_error(std::string(op) + ": axis out of range for " + shape_str(s));
  AxisView v{axis, 1, s[size_t(axis)], 1};
  for (int d = 0; d < axis; ++d) v.outer *= s[size_t(d)];
  for (size_t d = size_t(axis) + 1; d < s.size(); ++d) v.inner *= s[d];
  return v;
}

void check_range(const char* op, int64_t begin, int64_t end, int64_t size) {
  if (begin < 0 || end > size || begin > end)
    throw std::runtime_error(std::string(op) + ": range [" + std::to_string(begin) + ", " + std::to_string(end) +
                             ") out of bounds for size " + std::to_string(size));
}

Shape concat_shape(const std::vector<Tensor>& parts, int& axis) {
  if (parts.empty()) throw std::runtime_error("concat: no tensors");
  axis = axis_view(parts[0].shape(), axis, "concat").axis;
  Shape os = parts[0].shape();
  os[size_t(axis)] = 0;
  for (const Tensor& p : parts) {
    Shape s = p.shape(), ref = os;
    if (s.size() != os.size()) throw std::runtime_error("concat: ranks differ");
    s[size_t(axis)] = 0, ref[size_t(axis)] = 0;
    if (s != ref)
      throw std::runtime_error("concat: shapes " + shape_str(parts[0].shape()) + " and " + shape_str(p.shape()) + " differ off the axis");
    os[size_t(axis)] += p.dim(axis);
  }
  return os;
}

ProductShape product_shape(const char* op, const Shape& a, const Shape& b, bool ta, bool tb, bool batched) {
  auto fail = [&](const char* why) {
    throw std::runtime_error(std::string(op) + ": " + why + ", " + shape_str(a) + (ta ? "^T" : "") + " @ " +
                             shape_str(b) + (tb ? "^T" : ""));
  };
  if (batched ? (a.size() < 3 || a.size() != b.size()) : (a.size() != 2 || b.size() != 2))
    fail(batched ? "expected [..., M, K] and [..., K, N] of equal rank >= 3" : "expected 2-D tensors");
  ProductShape s{1, 0, 0, 0, a.back(), b.back()};
  for (size_t d = 0; d + 2 < a.size(); ++d) {
    if (a[d] != b[d]) fail("batch dimensions differ");
    s.batch *= a[d];
  }
  const int64_t ar = a[a.size() - 2], br = b[b.size() - 2];
  s.M = ta ? s.lda : ar, s.K = ta ? ar : s.lda, s.N = tb ? br : s.ldb;
  if ((tb ? s.ldb : br) != s.K) fail("inner dimensions differ");
  return s;
}

Shape product_out(const Shape& a, const ProductShape& s) {
  Shape out(a.begin(), a.end() - 2);
  out.push_back(s.M);
  out.push_back(s.N);
  return out;
}

Conv2dShape conv2d_shape(const Shape& x, const Shape& w, const Tensor& bias, int stride, int pad) {
  auto fail = [&](const std::string& why) {
    throw std::runtime_error("conv2d: " + why + " (input " + shape_str(x) + ", weight " + shape_str(w) +
                             (bias.defined() ? ", bias " + shape_str(bias.shape()) : std::string()) +
                             ", stride " + std::to_string(stride) + ", pad " + std::to_string(pad) + ")");
  };
  if (x.size() != 4 || w.size() != 4) fail("expected input [B, C, H, W] and weight [O, C, k, k]");
  if (w[1] != x[1]) fail("input channels differ from the weight's");
  if (w[2] != w[3] || w[2] < 1) fail("the kernel must be square");
  if (stride < 1 || pad < 0) fail("need stride >= 1 and pad >= 0");
  if (bias.defined() && (bias.ndim() != 1 || bias.dim(0) != w[0])) fail("bias must be [O]");
  Conv2dShape s{x[0], x[1], x[2], x[3], w[0], w[2], stride, pad, 0, 0};
  if (s.H + 2 * pad < s.k || s.W + 2 * pad < s.k) fail("the kernel is larger than the padded input");
  s.Ho = (s.H + 2 * pad - s.k) / stride + 1;
  s.Wo = (s.W + 2 * pad - s.k) / stride + 1;
  return s;
}

GroupNormShape group_norm_shape(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta) {
  auto fail = [&](const std::string& why) {
    throw std::runtime_error("group_norm: " + why + " (input " + shape_str(x.shape()) + ", groups " +
                             std::to_string(groups) + (gamma.defined() ? ", gamma " + shape_str(gamma.shape()) : "") +
                             (beta.defined() ? ", beta " + shape_str(beta.shape()) : "") + ")");
  };
  if (x.ndim() < 2) fail("expected [B, C, ...]");
  const int64_t C = x.dim(1);
  if (groups < 1 || C % groups != 0) fail("channels must divide into the groups");
  for (const Tensor* t : {&gamma, &beta})
    if (t->defined() && (t->ndim() != 1 || t->dim(0) != C)) fail("gamma and beta must be [C]");
  return {x.dim(0), C, groups, C / groups, x.numel() / std::max<int64_t>(1, x.dim(0) * C)};
}

}  // namespace fm
