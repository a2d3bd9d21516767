// tensor/ops_image.cpp: the op list's image ops (tensor/ops.h): the convolution's shape rule,
// which every backend shares, and the dispatch of the U-Net's kernels.
#include <stdexcept>
#include <string>

#include "tensor/dispatch.h"

namespace fm {

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

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, int stride, int pad, const ConvAddends& add) {
  FM_DISPATCH("conv2d_forward", conv2d_forward(x, w, bias, stride, pad, add), x, w, bias, add.sample_bias, add.residual);
}

void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, int stride, int pad, Tensor* dx, float beta_x,
                     Tensor* dw, float beta_w, Tensor* db, float beta_b) {
  const Tensor none;
  FM_DISPATCH("conv2d_backward", conv2d_backward(x, w, dy, stride, pad, dx, beta_x, dw, beta_w, db, beta_b), x, w, dy,
              dx ? *dx : none, dw ? *dw : none, db ? *db : none);
}

Tensor group_norm_forward(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps, Tensor& mean,
                          Tensor& rstd, bool silu) {
  FM_DISPATCH("group_norm_forward", group_norm_forward(x, groups, gamma, beta, eps, mean, rstd, silu), x, gamma, beta);
}

void group_norm_backward(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                         const Tensor& rstd, const Tensor& dy, bool silu, Tensor* dx, float beta_x, Tensor* dgamma,
                         float beta_g, Tensor* dbeta, float beta_b) {
  const Tensor none;
  FM_DISPATCH("group_norm_backward",
              group_norm_backward(x, groups, gamma, beta, mean, rstd, dy, silu, dx, beta_x, dgamma, beta_g, dbeta, beta_b),
              x, gamma, beta, mean, rstd, dy, dx ? *dx : none, dgamma ? *dgamma : none, dbeta ? *dbeta : none);
}

Tensor upsample_nearest2x_forward(const Tensor& x) { FM_DISPATCH("upsample_nearest2x", upsample_nearest2x_forward(x), x); }
void upsample_nearest2x_backward(const Tensor& dy, Tensor& dx, float beta) {
  FM_DISPATCH("upsample_nearest2x_backward", upsample_nearest2x_backward(dy, dx, beta), dy, dx);
}

Tensor softmax_forward(const Tensor& x, float scale) { FM_DISPATCH("softmax", softmax_forward(x, scale), x); }
void softmax_backward(const Tensor& y, const Tensor& dy, float scale, Tensor& dx, float beta) {
  FM_DISPATCH("softmax_backward", softmax_backward(y, dy, scale, dx, beta), y, dy, dx);
}

Tensor sinusoidal_embedding(const Tensor& t, int dim, float scale, float max_period) {
  if (dim < 1 || !(t.ndim() == 1 || (t.ndim() == 2 && t.dim(1) == 1)))
    throw std::runtime_error("sinusoidal_embedding: expected t [B] or [B, 1] and dim >= 1, got t " + shape_str(t.shape()) +
                             ", dim " + std::to_string(dim));
  FM_DISPATCH("sinusoidal_embedding", sinusoidal_embedding(t, dim, scale, max_period), t);
}

}  // namespace fm
