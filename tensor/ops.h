// tensor/ops.h: the op list. Every tensor operation that the layers above (autodiff, nn, flow,
// ode) use is a function here; none of them touches raw memory.
//
// Each op checks that its tensor arguments live on one device (else a one-line error naming the
// op and the devices), runs that device's kernel (tensor/cpu/ for host memory, cuda/ for CUDA
// memory; see tensor/dispatch.h) and returns its result on that device. No autodiff here: see
// autodiff/ops.h.
//
// Conventions: functions return new tensors; names ending in '_' write into an argument. Binary
// ops broadcast with NumPy's rules (align trailing dimensions; a dimension of 1 stretches).
// Functions taking a `beta` write their output (beta = 0: it may hold garbage) or add onto it
// (beta = 1), as sgemm's beta; a null output pointer means "not wanted". Every op gives the same
// bits for any number of threads.
#pragma once
#include <span>
#include <vector>

#include "tensor/shapes.h"  // the shape rules every backend shares
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

Tensor scale(const Tensor& x, float s);               // s * x
void scale_(Tensor& x, float s);                      // x *= s
void add_(Tensor& y, const Tensor& x);                // y += x (same numel)
void axpy_(float alpha, const Tensor& x, Tensor& y);  // y += alpha * x (same numel)
Tensor add_scalar(const Tensor& x, float s);          // x + s

// ---- reductions (deterministic: independent of the thread count) ----------------------------
// The ones returning double bring one scalar back to the host.
double sum_all(const Tensor& x);
double dot(const Tensor& a, const Tensor& b);
// (1/n) sum_i x_i^2 as a scalar tensor on x's device: the sum as dot's (in double), divided by n and
// rounded to float once, without a read-back to the host (the MSE loss inside a training step).
Tensor mean_square(const Tensor& x);
// sum_k dot(t_k, t_k) over several tensors (a global gradient norm squared), in tensor order: one
// scalar to the host for all of them.
double sum_squares(std::span<const Tensor* const> ts);
// Sum over axis; keepdim leaves a 1 in its place.
Tensor sum(const Tensor& x, int axis, bool keepdim = false);
// Sums a broadcast result back to `shape` (the un-broadcast that every binary backward needs).
Tensor sum_to(const Tensor& x, const Shape& shape);
// x viewed as [rows, n] with rows = the product of the first `keep` dims: out[r] = sum of row r
// (16-lane order, double accumulation), shape = those `keep` dims. A conv's per-sample bias grad.
Tensor sum_trailing(const Tensor& x, int keep);
bool all_finite(const Tensor& x);

// ---- linear algebra -------------------------------------------------------------------------
// op(a) @ op(b) for 2-D tensors, op = transpose when the flag is set.
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);
// c = op(a) @ op(b) + beta c for 2-D tensors, c the right shape already.
void matmul_into(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, float beta, Tensor& c);
// Batched: a [..., M, K] @ b [..., K, N] with equal leading dims (flags transpose the last two).
Tensor bmm(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);
void bmm_into(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, float beta, Tensor& c);
// y = x W^T + b for x [B, in], W [out, in], b [out] (may be undefined): y starts from the bias
// and the product accumulates onto it (no pass of its own for the bias).
Tensor linear(const Tensor& x, const Tensor& W, const Tensor& b);

// ---- layout ---------------------------------------------------------------------------------
Tensor concat(const std::vector<Tensor>& parts, int axis);
Tensor slice(const Tensor& x, int axis, int64_t begin, int64_t end);
// Writes `part` into out[..., begin:begin+part.dim(axis), ...] (the inverse of slice).
void slice_assign_(Tensor& out, const Tensor& part, int axis, int64_t begin);
// out[..., begin:end, ...] = value along `axis`.
void slice_fill_(Tensor& out, int axis, int64_t begin, int64_t end, float value);
Tensor transpose2d(const Tensor& x);
// [..., A, B] -> [..., B, A]; the _into form writes (beta 0) or adds (beta 1) into out.
Tensor transpose_last2(const Tensor& x);
void transpose_last2_into(const Tensor& x, float beta, Tensor& out);
// Gathers rows: out[i] = x[index[i]] along the leading axis.
Tensor take_rows(const Tensor& x, const std::vector<int64_t>& index);

// ---- image ops (the U-Net's; layouts as PyTorch: NCHW, conv weights [O, C, k, k]) ------------
// What a convolution's output starts from besides the bias, so that the additions that follow
// it in a U-Net block cost no pass of their own. Either may be undefined.
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

// torch.nn.GroupNorm: per sample b and group g (C / groups channels x H x W, any trailing dims),
//   xhat = (x - mean) * rstd,  rstd = 1 / sqrt(biased var + eps),  y = gamma[c] xhat + beta[c].
// gamma and beta [C] may be undefined (1 and 0). mean and rstd [B, groups] are returned for the
// backward op. With silu, the output is silu(y) = y sigmoid(y) (one pass instead of two).
Tensor group_norm_forward(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps,
                          Tensor& mean, Tensor& rstd, bool silu = false);
// With n elements per group and dxhat = dy gamma[c]:
//   dx = rstd (dxhat - mean_g(dxhat) - xhat mean_g(dxhat xhat)),
//   dgamma[c] = sum_{b, hw} dy xhat,   dbeta[c] = sum_{b, hw} dy;
// with silu, dy is first turned into the gradient of y, dy silu'(y).
void group_norm_backward(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                         const Tensor& rstd, const Tensor& dy, bool silu, Tensor* dx, float beta_x, Tensor* dgamma,
                         float beta_g, Tensor* dbeta, float beta_b);

// y[b, c, 2h + i, 2w + j] = x[b, c, h, w] for i, j in {0, 1};  dx (+)= the sum of each 2x2 block.
Tensor upsample_nearest2x_forward(const Tensor& x);
void upsample_nearest2x_backward(const Tensor& dy, Tensor& dx, float beta);

// Softmax over the last axis of s x (max-subtracted), s > 0;  dx (+)= s y (dy - sum(dy y)).
Tensor softmax_forward(const Tensor& x, float scale = 1.0f);
void softmax_backward(const Tensor& y, const Tensor& dy, float scale, Tensor& dx, float beta);

// DDPM's sinusoidal embedding of scale * t: with half = dim / 2, f_i = exp(-log(max_period) i /
// half), a_i = scale t f_i: out = [cos(a), sin(a)] (+ a zero column when dim is odd), computed in
// double and stored as float. t [B] or [B, 1] -> [B, dim].
Tensor sinusoidal_embedding(const Tensor& t, int dim, float scale, float max_period);

// ---- training -------------------------------------------------------------------------------
// One Adam / AdamW update of p with gradient g and moments m, v (all the same numel), in place:
//   g' = g + l2 p,  p *= decay,  m = b1 m + (1 - b1) g',  v = b2 v + (1 - b2) g'^2,
//   p -= step_size m / (sqrt(v) inv_sqrt_bc2 + eps)
// (l2 = 0 and decay = 1 switch the two weight decays off; see nn/optim.h for the constants).
struct AdamStep {
  float b1, b2, eps, step_size, inv_sqrt_bc2, l2, decay;
};
void adam_update_(Tensor& p, const Tensor& g, Tensor& m, Tensor& v, const AdamStep& s);
// shadow = d shadow + (1 - d) p
void ema_update_(Tensor& shadow, const Tensor& p, float d);
// mask = [u >= p] / (1 - p) from u ~ U[0, 1) in place (0 everywhere when p = 1): inverted dropout.
void dropout_mask_(Tensor& u, float p);
// The conditional path's two affine maps per sample i of x0, x1 [B, ...] with coef [B, 4]:
//   xt[i] = coef[i, 0] x0[i] + coef[i, 1] x1[i],   ut[i] = coef[i, 2] x0[i] + coef[i, 3] x1[i].
void path_mix_(const Tensor& x0, const Tensor& x1, const Tensor& coef, Tensor& xt, Tensor& ut);

// ---- ODE solvers and likelihoods ------------------------------------------------------------
// out = y0 + h sum_j w[j] k[j], each element accumulated in double and rounded to float once;
// terms with w[j] == 0 are skipped. out may alias y0. (A Runge–Kutta stage input or solution.)
void rk_combine_(Tensor& out, const Tensor& y0, double h, std::span<const double> w, std::span<const Tensor* const> k);
// torchdiffeq's mixed norm: the max over consecutive parts (sizes summing to numel) of each
// part's RMS of v_i. Two forms of v, both with tolerances in double:
//   rk_error_ratio:  v_i = (h sum_j e[j] k[j]_i) / (atol + rtol max(|y0_i|, |y1_i|))  (dopri5's test)
//   scaled_norm:     v_i = (a_i - b_i) / (atol + rtol |ref_i|), b = 0 when null      (its first step)
// NaN anywhere gives NaN. One scalar comes back to the host.
double rk_error_ratio(const Tensor& y0, const Tensor& y1, std::span<const Tensor* const> k, double h,
                      std::span<const double> e, double atol, double rtol, std::span<const int64_t> parts);
double scaled_norm(const Tensor& a, const Tensor* b, const Tensor& ref, double atol, double rtol,
                   std::span<const int64_t> parts);
// The index of the first tensor holding a NaN or Inf, or -1 (one scalar to the host).
int first_nonfinite(std::span<const Tensor* const> ts);
// acc[b] += scale * sum_j a[b, j] c[b, j] for a, c viewed as [B, D] (float accumulation):
// Hutchinson's z^T (dv/dx) z per sample.
void row_dot_add_(Tensor& acc, const Tensor& a, const Tensor& c, float scale);
// acc[b] += x[b, i] for x viewed as [B, D]: one column (the exact divergence's diagonal entry).
void add_column_(Tensor& acc, const Tensor& x, int64_t i);
// sum_j x[b, j]^2 per row in double, returned to the host (a Gaussian's log density).
std::vector<double> row_sum_squares(const Tensor& x);

}  // namespace fm
