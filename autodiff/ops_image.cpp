// autodiff/ops_image.cpp: convolution, group norm, upsampling, softmax, batched matmul,
// dropout and the time embedding. The kernels are ops of the op list (tensor/ops.h); the backward
// rules hand them the parents' grad buffers (grad_buffer) so they accumulate in place.
#include "autodiff/ops_image.h"

#include <cmath>
#include <stdexcept>

#include "tensor/profile.h"

namespace fm {

namespace {

// The parent's grad buffer and its beta when parent i needs a gradient, else nullptr.
Tensor* wanted_grad(Node& n, size_t i, float& beta) {
  if (i >= n.parents.size() || !needs_grad(n, i)) return nullptr;
  return &grad_buffer(*n.parents[i], beta);
}

}  // namespace

// y = conv(x, w) + b [+ e[b, o]] [+ r]   (CPU: implicit GEMM or direct kernels, tensor/cpu/conv.cpp)
//   dx += conv_transpose(dy, w)   dw += sum_b dy_b col_b^T   db += sum over b, pixels of dy
//   de[b, o] += sum over pixels of dy[b, o]    dr += dy
// The per-sample bias e and the residual r are added as y is initialised (no pass of their own).
Var conv2d(const Var& x, const Var& w, const Var& b, int stride, int pad, const Var& sample_bias,
           const Var& residual) {
  FM_PROFILE("conv2d");
  Tensor xv = x.value(), wv = w.value();
  ConvAddends add;
  if (sample_bias.defined()) add.sample_bias = sample_bias.value();
  if (residual.defined()) add.residual = residual.value();
  Tensor y = conv2d_forward(xv, wv, b.defined() ? b.value() : Tensor(), stride, pad, add);
  std::vector<Var> parents{x, w};
  const size_t ib = b.defined() ? parents.size() : size_t(-1);
  if (b.defined()) parents.push_back(b);
  const size_t ie = sample_bias.defined() ? parents.size() : size_t(-1);
  if (sample_bias.defined()) parents.push_back(sample_bias);
  const size_t ir = residual.defined() ? parents.size() : size_t(-1);
  if (residual.defined()) parents.push_back(residual);
  return make_result(y, parents, "conv2d", [xv, wv, stride, pad, ib, ie, ir](Node& n) {
    float bx = 0.0f, bw = 0.0f, bb = 0.0f;
    Tensor* dx = wanted_grad(n, 0, bx);
    Tensor* dw = wanted_grad(n, 1, bw);
    Tensor* db = wanted_grad(n, ib, bb);
    conv2d_backward(xv, wv, n.grad, stride, pad, dx, bx, dw, bw, db, bb);
    if (ie < n.parents.size() && needs_grad(n, ie))  // de[b, o] = sum_p dy[b, o, p]
      accumulate_grad(*n.parents[ie], sum_trailing(n.grad, 2).reshape(n.parents[ie]->value.shape()), true);
    if (ir < n.parents.size() && needs_grad(n, ir)) accumulate_grad(*n.parents[ir], n.grad, false);
  });
}

namespace {
Var group_norm_op(const Var& x, int groups, const Var& gamma, const Var& beta, float eps, bool silu, const char* name) {
  Tensor xv = x.value(), gv = gamma.defined() ? gamma.value() : Tensor(), bv = beta.defined() ? beta.value() : Tensor();
  Tensor mean, rstd;
  Tensor y = group_norm_forward(xv, groups, gv, bv, eps, mean, rstd, silu);
  std::vector<Var> parents{x};
  const size_t ig = gamma.defined() ? parents.size() : size_t(-1);
  if (gamma.defined()) parents.push_back(gamma);
  const size_t ib = beta.defined() ? parents.size() : size_t(-1);
  if (beta.defined()) parents.push_back(beta);
  return make_result(y, parents, name, [xv, gv, bv, mean, rstd, groups, ig, ib, silu](Node& n) {
    float bx = 0.0f, bg = 0.0f, bb = 0.0f;
    Tensor* dx = wanted_grad(n, 0, bx);
    Tensor* dg = wanted_grad(n, ig, bg);
    Tensor* db = wanted_grad(n, ib, bb);
    group_norm_backward(xv, groups, gv, bv, mean, rstd, n.grad, silu, dx, bx, dg, bg, db, bb);
  });
}
}  // namespace

Var group_norm(const Var& x, int groups, const Var& gamma, const Var& beta, float eps) {
  FM_PROFILE("group_norm");
  return group_norm_op(x, groups, gamma, beta, eps, false, "group_norm");
}

// z = group_norm(x), y = silu(z) = z sigmoid(z)     dz = dy silu'(z), then group_norm's rule
Var group_norm_silu(const Var& x, int groups, const Var& gamma, const Var& beta, float eps) {
  FM_PROFILE("group_norm_silu");
  return group_norm_op(x, groups, gamma, beta, eps, true, "group_norm_silu");
}

// y[b, c, 2h + i, 2w + j] = x[b, c, h, w]     dx += sum of dy over each 2x2 block
Var upsample_nearest2x(const Var& x) {
  FM_PROFILE("upsample_nearest2x");
  return make_result(upsample_nearest2x_forward(x.value()), {x}, "upsample_nearest2x", [](Node& n) {
    float beta = 0.0f;
    if (Tensor* dx = wanted_grad(n, 0, beta)) upsample_nearest2x_backward(n.grad, *dx, beta);
  });
}

// y = exp(x - max) / sum exp(x - max) per row     dx += y (dy - sum(dy y))
Var softmax(const Var& x, float scale) {
  FM_PROFILE("softmax");
  Tensor y = softmax_forward(x.value(), scale);
  return make_result(y, {x}, "softmax", [y, scale](Node& n) {
    float beta = 0.0f;
    if (Tensor* dx = wanted_grad(n, 0, beta)) softmax_backward(y, n.grad, scale, *dx, beta);
  });
}

// C = op(A) op(B) per batch entry
//   dA += dC op(B)^T   (laid out as A: transposed again when trans_a)
//   dB += op(A)^T dC   (laid out as B: transposed again when trans_b)
Var bmm(const Var& a, const Var& b, bool ta, bool tb) {
  FM_PROFILE("bmm");
  Tensor av = a.value(), bv = b.value();
  Tensor c = fm::bmm(av, bv, ta, tb);
  return make_result(c, {a, b}, "bmm", [av, bv, ta, tb](Node& n) {
    const Tensor& g = n.grad;
    float beta = 0.0f;
    if (Tensor* da = wanted_grad(n, 0, beta)) {
      if (!ta) bmm_into(g, bv, false, !tb, beta, *da);  // dA [M, K] = dC [M, N] op(B)^T
      else bmm_into(bv, g, tb, true, beta, *da);        // dA [K, M] = op(B) [K, N] dC^T
    }
    if (Tensor* db = wanted_grad(n, 1, beta)) {
      if (!tb) bmm_into(av, g, !ta, false, beta, *db);  // dB [K, N] = op(A)^T dC
      else bmm_into(g, av, true, ta, beta, *db);        // dB [N, K] = dC^T op(A)
    }
  });
}

// y[..., j, i] = x[..., i, j]     dx[..., i, j] += dy[..., j, i]
Var transpose_last2(const Var& x) {
  FM_PROFILE("transpose_last2");
  return make_result(fm::transpose_last2(x.value()), {x}, "transpose_last2", [](Node& n) {
    float beta = 0.0f;
    if (Tensor* dx = wanted_grad(n, 0, beta)) transpose_last2_into(n.grad, beta, *dx);
  });
}

// y = x m,  m = [u >= p] / (1 - p) with u ~ U[0, 1) from rng     dx += dy m
Var dropout(const Var& x, float p, bool training, Rng& rng) {
  FM_PROFILE("dropout");
  if (!(p >= 0.0f && p <= 1.0f)) throw std::runtime_error("dropout: p must lie in [0, 1], got " + std::to_string(p));
  if (!training || p == 0.0f) return x;
  Tensor mask = Tensor::empty(x.shape(), x.value().device());
  rng.uniform(mask);
  dropout_mask_(mask, p);
  return make_result(fm::mul(x.value(), mask), {x}, "dropout", [mask](Node& n) {
    if (needs_grad(n, 0)) accumulate_grad(*n.parents[0], fm::mul(n.grad, mask), true);
  });
}

// out[b, i] = cos(scale t_b freq_i), out[b, half + i] = sin(scale t_b freq_i),
// freq_i = exp(-log(max_period) i / half); computed in double, stored as float.
Var timestep_embedding(const Tensor& t, int dim, float scale, float max_period) {
  FM_PROFILE("timestep_embedding");
  return Var(sinusoidal_embedding(t, dim, scale, max_period), false);
}

}  // namespace fm
