// tensor/ops_image.cpp: the op list's image ops (tensor/ops.h): the dispatch of the U-Net's
// kernels (the convolution's shape rule, which every backend shares, is in tensor/shapes.h).
#include <stdexcept>
#include <string>

#include "tensor/dispatch.h"
#include "tensor/profile.h"
#include "tensor/shapes.h"

namespace fm {

namespace {
// fm bench's flop count (tensor/profile.h) of `passes` passes of the direct convolution, 2 flops
// per multiply-add: the forward is one pass, the backward's dx and dw one each. The shape check
// is the backends' own (they repeat it).
void count_conv(const Tensor& x, const Tensor& w, int stride, int pad, int passes) {
  const Conv2dShape s = conv2d_shape(x.shape(), w.shape(), Tensor(), stride, pad);
  profile::add_flops(2.0 * passes * double(s.B) * double(s.O) * double(s.Ho * s.Wo) * double(s.C * s.k * s.k));
}
}  // namespace

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, int stride, int pad, const ConvAddends& add) {
  count_conv(x, w, stride, pad, 1);
  FM_DISPATCH("conv2d_forward", conv2d_forward(x, w, bias, stride, pad, add), x, w, bias, add.sample_bias, add.residual);
}

void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, int stride, int pad, Tensor* dx, float beta_x,
                     Tensor* dw, float beta_w, Tensor* db, float beta_b) {
  const Tensor none;
  count_conv(x, w, stride, pad, (dx ? 1 : 0) + (dw ? 1 : 0));
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
  const GroupNormShape s = group_norm_shape(x, groups, gamma, silu ? beta : Tensor());
  check_same_shape(dy, x, "group_norm backward (dy)");
  check_grad_shape(dx, x.shape(), "group_norm backward (dx)");
  check_grad_shape(dgamma, {s.C}, "group_norm backward (dgamma)");
  check_grad_shape(dbeta, {s.C}, "group_norm backward (dbeta)");
  const Tensor none;
  FM_DISPATCH("group_norm_backward",
              group_norm_backward(x, groups, gamma, beta, mean, rstd, dy, silu, dx, beta_x, dgamma, beta_g, dbeta, beta_b),
              x, gamma, beta, mean, rstd, dy, dx ? *dx : none, dgamma ? *dgamma : none, dbeta ? *dbeta : none);
}

Tensor upsample_nearest2x_forward(const Tensor& x) {
  if (x.ndim() != 4) throw std::runtime_error("upsample_nearest2x: expected [B, C, H, W], got " + shape_str(x.shape()));
  FM_DISPATCH("upsample_nearest2x", upsample_nearest2x_forward(x), x);
}
void upsample_nearest2x_backward(const Tensor& dy, Tensor& dx, float beta) {
  if (dy.ndim() != 4 || dx.ndim() != 4 || dy.dim(0) != dx.dim(0) || dy.dim(1) != dx.dim(1) || dy.dim(2) != 2 * dx.dim(2) ||
      dy.dim(3) != 2 * dx.dim(3))
    throw std::runtime_error("upsample_nearest2x backward: dy " + shape_str(dy.shape()) + " does not match dx " + shape_str(dx.shape()));
  FM_DISPATCH("upsample_nearest2x_backward", upsample_nearest2x_backward(dy, dx, beta), dy, dx);
}

Tensor softmax_forward(const Tensor& x, float scale) {
  if (x.ndim() < 1 || x.dim(-1) < 1) throw std::runtime_error("softmax: empty last axis in " + shape_str(x.shape()));
  if (!(scale > 0.0f)) throw std::runtime_error("softmax: the scale must be positive");
  FM_DISPATCH("softmax", softmax_forward(x, scale), x);
}
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
