// tensor/cpu/conv.h: CPU kernels for the image ops of the U-Net (no autodiff here; see
// autodiff/ops_image.h): 2-D convolution, group norm, nearest 2x upsampling and softmax, each
// with its backward kernel. Layouts as PyTorch: activations NCHW, conv weights [O, C, k, k].
//
// Backward kernels take one output pointer per gradient (nullptr: not wanted) and a beta for
// it: 0 overwrites (the buffer may hold garbage), 1 adds onto what it holds, as sgemm's beta.
// Every kernel gives bit-identical results for any number of threads.
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace fm {

// ---- 2-D convolution ------------------------------------------------------------------------
// Sizes of one convolution: x [B, C, H, W] * w [O, C, k, k] -> y [B, O, Ho, Wo] with
// Ho = (H + 2 pad - k) / stride + 1 (PyTorch's rounding down), likewise Wo.
struct Conv2dShape {
  int64_t B, C, H, W, O, k, stride, pad, Ho, Wo;
};
// Checks the shapes (square odd-or-even k, stride >= 1, pad >= 0, bias [O] if defined) and
// throws std::runtime_error naming them if they do not fit.
Conv2dShape conv2d_shape(const Shape& x, const Shape& w, const Tensor& bias, int stride, int pad);

// What a convolution's output starts from besides the bias, so that the additions that follow
// it in a U-Net block cost no pass of their own (y is initialised with them before the products
// accumulate onto it). Either may be undefined.
struct ConvAddends {
  Tensor sample_bias;  // [B, O]: a bias per sample and channel (the time embedding)
  Tensor residual;     // [B, O, Ho, Wo]: added elementwise (the skip connection)
};
// y = conv(x, w) + b [+ sample_bias[b, o]] [+ residual] (b may be undefined: no bias).
Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, int stride, int pad,
                      const ConvAddends& add = {});
// From dy [B, O, Ho, Wo]: dx [B, C, H, W], dw [O, C, k, k], db [O].
void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, int stride, int pad,
                     Tensor* dx, float beta_x, Tensor* dw, float beta_w, Tensor* db, float beta_b);

// The readable references: direct loops with double accumulation, for the tests. The backward
// reference overwrites (beta = 0) whichever of dx, dw, db is non-null.
Tensor conv2d_reference(const Tensor& x, const Tensor& w, const Tensor& bias, int stride, int pad);
void conv2d_backward_reference(const Tensor& x, const Tensor& w, const Tensor& dy, int stride, int pad,
                               Tensor* dx, Tensor* dw, Tensor* db);

// ---- group norm -----------------------------------------------------------------------------
// torch.nn.GroupNorm: per sample b and group g (C / groups channels x H x W, any trailing dims),
//   xhat = (x - mean) * rstd,  rstd = 1 / sqrt(biased var + eps),  y = gamma[c] xhat + beta[c].
// gamma and beta [C] may be undefined (1 and 0). mean and rstd [B, groups] are returned for the
// backward kernel. With silu, the output is silu(y) = y sigmoid(y): the U-Net's GroupNorm + SiLU
// in one pass over memory instead of two (tensor/cpu/group_norm.cpp).
Tensor group_norm_forward(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps,
                          Tensor& mean, Tensor& rstd, bool silu = false);
// With n elements per group and dxhat = dy gamma[c]:
//   dx = rstd (dxhat - mean_g(dxhat) - xhat mean_g(dxhat xhat)),
//   dgamma[c] = sum_{b, hw} dy xhat,   dbeta[c] = sum_{b, hw} dy.
// With silu, dy is the gradient of silu(y) and is first turned into the gradient of y,
// dy silu'(y), one group at a time (y recomputed from x, mean, rstd, gamma and beta).
void group_norm_backward(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                         const Tensor& rstd, const Tensor& dy, bool silu, Tensor* dx, float beta_x, Tensor* dgamma,
                         float beta_g, Tensor* dbeta, float beta_b);

// ---- nearest 2x upsampling ------------------------------------------------------------------
// y[b, c, 2h + i, 2w + j] = x[b, c, h, w] for i, j in {0, 1}.
Tensor upsample_nearest2x_forward(const Tensor& x);
// dx[b, c, h, w] (+)= sum of the 2x2 block of dy over it.
void upsample_nearest2x_backward(const Tensor& dy, Tensor& dx, float beta);

// ---- softmax over the last axis -------------------------------------------------------------
// y = softmax(s x) = exp(s (x - max)) / sum exp(s (x - max)), row by row (max-subtracted: no
// overflow), s > 0: attention's 1 / sqrt(C) folded into the exponent instead of a pass of its own.
Tensor softmax_forward(const Tensor& x, float scale = 1.0f);
// dx (+)= s y (dy - sum(dy y)) row by row.
void softmax_backward(const Tensor& y, const Tensor& dy, float scale, Tensor& dx, float beta);

}  // namespace fm
