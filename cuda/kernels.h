// cuda/kernels.h: the CUDA backend: one kernel per op of the op list (tensor/ops.h), with the same
// signature and contract as the CPU backend's (tensor/cpu/kernels.h), on tensors in CUDA memory.
// The op list checks devices and calls these (tensor/dispatch.h). Everything runs on one stream
// (cuda/common.cuh); ops that return a host value (double, bool, int, std::vector) wait for it.
// Reductions use fixed launch shapes and no float atomics: a GPU run repeats bit for bit.
#pragma once
#include <span>
#include <vector>

#include "tensor/ops.h"

namespace fm::cuda {



// ---- elementwise (elementwise.cu) ----------------------------------------------------------
Tensor unary(UnaryOp op, const Tensor& x);
Tensor unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& dy);
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
Tensor scale(const Tensor& x, float s);
void scale_(Tensor& x, float s);
void axpy_(float alpha, const Tensor& x, Tensor& y);
Tensor add_scalar(const Tensor& x, float s);
void dropout_mask_(Tensor& u, float p);
void path_mix_(const Tensor& x0, const Tensor& x1, const Tensor& coef, Tensor& xt, Tensor& ut);

// ---- reductions (reduce.cu) ----------------------------------------------------------------
double sum_all(const Tensor& x);
double dot(const Tensor& a, const Tensor& b);
Tensor mean_square(const Tensor& x);
double sum_squares(std::span<const Tensor* const> ts);
Tensor sum(const Tensor& x, int axis, bool keepdim);
Tensor sum_trailing(const Tensor& x, int keep);
bool all_finite(const Tensor& x);

// ---- linear algebra (linalg.cu, over cuBLAS) ------------------------------------------------
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b);
void matmul_into(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, float beta, Tensor& c);
Tensor bmm(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b);
void bmm_into(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, float beta, Tensor& c);
Tensor linear(const Tensor& x, const Tensor& W, const Tensor& b);

// ---- layout (layout.cu) --------------------------------------------------------------------
Tensor concat(const std::vector<Tensor>& parts, int axis);
Tensor slice(const Tensor& x, int axis, int64_t begin, int64_t end);
void slice_assign_(Tensor& out, const Tensor& part, int axis, int64_t begin);
void slice_fill_(Tensor& out, int axis, int64_t begin, int64_t end, float value);
Tensor transpose2d(const Tensor& x);
void transpose_last2_into(const Tensor& x, float beta, Tensor& out);
Tensor take_rows(const Tensor& x, const std::vector<int64_t>& index);

// ---- image ops (conv.cu: im2col + cuBLAS; image.cu) -----------------------------------------
Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, int stride, int pad, const ConvAddends& add);
void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, int stride, int pad,
                     Tensor* dx, float beta_x, Tensor* dw, float beta_w, Tensor* db, float beta_b);
Tensor group_norm_forward(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps,
                          Tensor& mean, Tensor& rstd, bool silu);
void group_norm_backward(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                         const Tensor& rstd, const Tensor& dy, bool silu, Tensor* dx, float beta_x, Tensor* dgamma,
                         float beta_g, Tensor* dbeta, float beta_b);
Tensor upsample_nearest2x_forward(const Tensor& x);
void upsample_nearest2x_backward(const Tensor& dy, Tensor& dx, float beta);
Tensor softmax_forward(const Tensor& x, float scale);
void softmax_backward(const Tensor& y, const Tensor& dy, float scale, Tensor& dx, float beta);
Tensor sinusoidal_embedding(const Tensor& t, int dim, float scale, float max_period);

// ---- training (optim.cu) -------------------------------------------------------------------
void adam_update_(Tensor& p, const Tensor& g, Tensor& m, Tensor& v, const AdamStep& s);
void ema_update_(Tensor& shadow, const Tensor& p, float d);

// ---- ODE solvers and likelihoods (ode.cu) --------------------------------------------------
void rk_combine_(Tensor& out, const Tensor& y0, double h, std::span<const double> w, std::span<const Tensor* const> k);
double rk_error_ratio(const Tensor& y0, const Tensor& y1, std::span<const Tensor* const> k, double h,
                      std::span<const double> e, double atol, double rtol, std::span<const int64_t> parts);
double scaled_norm(const Tensor& a, const Tensor* b, const Tensor& ref, double atol, double rtol,
                   std::span<const int64_t> parts);
int first_nonfinite(std::span<const Tensor* const> ts);
void row_dot_add_(Tensor& acc, const Tensor& a, const Tensor& c, float scale);
void add_column_(Tensor& acc, const Tensor& x, int64_t i);
std::vector<double> row_sum_squares(const Tensor& x);

// ---- random fills (random.cu): element i is stream word `first` + i, a pure function of (seed, first, i)
void philox_uniform(Tensor& t, uint64_t seed, uint64_t first, float lo, float hi);
void philox_normal(Tensor& t, uint64_t seed, uint64_t first, float mean, float stddev);
void philox_rademacher(Tensor& t, uint64_t seed, uint64_t first);

}  // namespace fm::cuda
