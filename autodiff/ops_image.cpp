// autodiff/ops_image.cpp: convolution, group norm, upsampling, softmax, batched matmul,
// dropout and the time embedding. The heavy kernels are in tensor/cpu/conv.cpp; the backward rules
// hand them the parents' grad buffers (grad_buffer) so they accumulate in place.
#include "autodiff/ops_image.h"

#include <cmath>
#include <stdexcept>

#include "tensor/cpu/conv.h"
#include "tensor/cpu/gemm.h"
#include "tensor/cpu/lanes.h"
#include "tensor/cpu/parallel.h"
#include "tensor/profile.h"

namespace fm {

namespace {

// The parent's grad buffer and its beta when parent i needs a gradient, else nullptr.
Tensor* wanted_grad(Node& n, size_t i, float& beta) {
  if (i >= n.parents.size() || !needs_grad(n, i)) return nullptr;
  return &grad_buffer(*n.parents[i], beta);
}

// sizes of a batched product op(a) [M, K] @ op(b) [K, N] over `batch` leading entries
struct BmmShape {
  int64_t batch, M, K, N, lda, ldb;  // lda, ldb: row strides of a and b (their last dims)
};
BmmShape bmm_shape(const Shape& a, const Shape& b, bool ta, bool tb) {
  auto fail = [&](const char* why) {
    throw std::runtime_error(std::string("bmm: ") + why + ", " + shape_str(a) + (ta ? "^T" : "") + " @ " +
                             shape_str(b) + (tb ? "^T" : ""));
  };
  if (a.size() < 3 || a.size() != b.size()) fail("expected [..., M, K] and [..., K, N] of equal rank >= 3");
  BmmShape s{1, 0, 0, 0, a.back(), b.back()};
  for (size_t d = 0; d + 2 < a.size(); ++d) {
    if (a[d] != b[d]) fail("batch dimensions differ");
    s.batch *= a[d];
  }
  const int64_t ar = a[a.size() - 2], br = b[b.size() - 2];
  s.M = ta ? s.lda : ar, s.K = ta ? ar : s.lda, s.N = tb ? br : s.ldb;
  if ((tb ? s.ldb : br) != s.K) fail("inner dimensions differ");
  return s;
}

// C_i = op(A_i) op(B_i) (+ beta C_i) for each batch entry i, entries in parallel. Each product is
// computed whole by one sgemm call, so the bits do not depend on the thread count.
void batched_sgemm(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                   const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  const int64_t sa = M * K, sb = K * N, sc = M * N;  // per-entry strides (A, B, C contiguous)
  parallel_for(batch, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, M * N * K)), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i)
      sgemm(ta, tb, M, N, K, 1.0f, A + i * sa, lda, B + i * sb, ldb, beta, C + i * sc, ldc);
  });
}

// out[i] (+)= in[i]^T for each [rows, cols] matrix in[i] of a batch.
void transpose_batched(const float* in, int64_t batch, int64_t rows, int64_t cols, float* out, float beta) {
  parallel_for(batch * rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, cols)), [&](int64_t lo, int64_t hi) {
    for (int64_t br = lo; br < hi; ++br) {
      const int64_t i = br / rows, r = br % rows;
      const float* src = in + br * cols;
      float* dst = out + i * rows * cols + r;
      for (int64_t c = 0; c < cols; ++c) dst[c * rows] = beta == 0.0f ? src[c] : dst[c * rows] + src[c];
    }
  });
}

}  // namespace

// y = conv(x, w) + b [+ e[b, o]] [+ r]   (implicit GEMM or direct kernels; see tensor/cpu/conv.cpp)
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
    if (ie < n.parents.size() && needs_grad(n, ie)) {  // de[b, o] = sum_p dy[b, o, p]
      const int64_t rows = n.grad.dim(0) * n.grad.dim(1), P = n.grad.numel() / rows;
      Tensor de = Tensor::empty(n.parents[ie]->value.shape());
      parallel_for(rows, 64, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) de.data()[i] = float(lane_sum(n.grad.data() + i * P, P));
      });
      accumulate_grad(*n.parents[ie], de, true);
    }
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
  const BmmShape s = bmm_shape(a.shape(), b.shape(), ta, tb);
  Tensor av = a.value(), bv = b.value();
  Shape cs(a.shape().begin(), a.shape().end() - 2);
  cs.push_back(s.M);
  cs.push_back(s.N);
  Tensor c = Tensor::empty(cs);
  batched_sgemm(s.batch, ta, tb, s.M, s.N, s.K, av.data(), s.lda, bv.data(), s.ldb, 0.0f, c.data(), s.N);
  return make_result(c, {a, b}, "bmm", [av, bv, ta, tb, s](Node& n) {
    const float* g = n.grad.data();
    float beta = 0.0f;
    if (Tensor* da = wanted_grad(n, 0, beta)) {
      if (!ta)  // dA [M, K] = dC [M, N] op(B)^T
        batched_sgemm(s.batch, false, !tb, s.M, s.K, s.N, g, s.N, bv.data(), s.ldb, beta, da->data(), s.K);
      else      // dA [K, M] = op(B) [K, N] dC^T
        batched_sgemm(s.batch, tb, true, s.K, s.M, s.N, bv.data(), s.ldb, g, s.N, beta, da->data(), s.M);
    }
    if (Tensor* db = wanted_grad(n, 1, beta)) {
      if (!tb)  // dB [K, N] = op(A)^T dC
        batched_sgemm(s.batch, !ta, false, s.K, s.N, s.M, av.data(), s.lda, g, s.N, beta, db->data(), s.N);
      else      // dB [N, K] = dC^T op(A)
        batched_sgemm(s.batch, true, ta, s.N, s.K, s.M, g, s.N, av.data(), s.lda, beta, db->data(), s.K);
    }
  });
}

// y[..., j, i] = x[..., i, j]     dx[..., i, j] += dy[..., j, i]
Var transpose_last2(const Var& x) {
  FM_PROFILE("transpose_last2");
  if (x.ndim() < 2) throw std::runtime_error("transpose_last2: expected at least 2 dims, got " + shape_str(x.shape()));
  const int64_t rows = x.dim(-2), cols = x.dim(-1), batch = x.numel() / std::max<int64_t>(1, rows * cols);
  Shape ys = x.shape();
  std::swap(ys[ys.size() - 1], ys[ys.size() - 2]);
  Tensor y = Tensor::empty(ys);
  transpose_batched(x.value().data(), batch, rows, cols, y.data(), 0.0f);
  return make_result(y, {x}, "transpose_last2", [batch, rows, cols](Node& n) {
    float beta = 0.0f;
    if (Tensor* dx = wanted_grad(n, 0, beta)) transpose_batched(n.grad.data(), batch, cols, rows, dx->data(), beta);
  });
}

// y = x m,  m = [u >= p] / (1 - p) with u ~ U[0, 1) from rng     dx += dy m
Var dropout(const Var& x, float p, bool training, Rng& rng) {
  FM_PROFILE("dropout");
  if (!(p >= 0.0f && p <= 1.0f)) throw std::runtime_error("dropout: p must lie in [0, 1], got " + std::to_string(p));
  if (!training || p == 0.0f) return x;
  Tensor mask = Tensor::empty(x.shape());
  rng.uniform(mask);
  const float keep = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  float* pm = mask.data();
  parallel_for(mask.numel(), 1 << 14, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) pm[i] = pm[i] >= p ? keep : 0.0f;
  });
  return make_result(fm::mul(x.value(), mask), {x}, "dropout", [mask](Node& n) {
    if (needs_grad(n, 0)) accumulate_grad(*n.parents[0], fm::mul(n.grad, mask), true);
  });
}

// out[b, i] = cos(scale t_b freq_i), out[b, half + i] = sin(scale t_b freq_i),
// freq_i = exp(-log(max_period) i / half); computed in double, stored as float.
Var timestep_embedding(const Tensor& t, int dim, float scale, float max_period) {
  FM_PROFILE("timestep_embedding");
  if (dim < 1 || !(t.ndim() == 1 || (t.ndim() == 2 && t.dim(1) == 1)))
    throw std::runtime_error("timestep_embedding: expected t [B] or [B, 1] and dim >= 1, got t " + shape_str(t.shape()) +
                             ", dim " + std::to_string(dim));
  const int64_t B = t.dim(0), half = dim / 2;
  Tensor out = Tensor::zeros({B, dim});  // an odd dim leaves the last column 0
  float* po = out.data();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < half; ++i) {
      const double freq = std::exp(-std::log(double(max_period)) * double(i) / double(half));
      const double arg = double(scale) * double(t.data()[b]) * freq;
      po[b * dim + i] = float(std::cos(arg));
      po[b * dim + half + i] = float(std::sin(arg));
    }
  return Var(out, false);
}

}  // namespace fm
