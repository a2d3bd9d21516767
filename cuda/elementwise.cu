// cuda/elementwise.cu: unary and broadcasting binary kernels, scaling, axpy, the dropout mask and
// the path's two affine maps. The per-element math is tensor/activation.h's, shared with the
// CPU backend (FM_HD), so both devices compute the same expression.
#include <stdexcept>

#include "cuda/common.cuh"
#include "cuda/kernels.h"
#include "tensor/activation.h"
#include "tensor/fused_math.h"

namespace fm::cuda {

namespace {

using namespace act;

template <class F>
__global__ void unary_kernel(const float* x, float* y, int64_t n) {
  FM_CUDA_LOOP(i, n) y[i] = F::f(x[i]);
}

template <class F>
__global__ void unary_backward_kernel(const float* x, const float* y, const float* dy, float* dx, int64_t n) {
  FM_CUDA_LOOP(i, n) dx[i] = dy[i] * F::df(x[i], y[i]);
}

// Broadcast strides of both operands in the output's index space (0 on stretched dimensions).
constexpr int kMaxDims = 8;
struct Broadcast {
  int nd;
  int64_t dims[kMaxDims], sa[kMaxDims], sb[kMaxDims];
};

Broadcast broadcast_of(const Shape& a, const Shape& b, const Shape& out) {
  Broadcast g{};
  g.nd = int(out.size());
  if (g.nd > kMaxDims) throw std::runtime_error("binary: more than 8 dimensions on cuda");
  int64_t ka = 1, kb = 1;
  for (int d = g.nd - 1, da = int(a.size()) - 1, db = int(b.size()) - 1; d >= 0; --d, --da, --db) {
    g.dims[d] = out[d];
    g.sa[d] = da >= 0 && a[da] != 1 ? ka : 0;
    g.sb[d] = db >= 0 && b[db] != 1 ? kb : 0;
    if (da >= 0) ka *= a[da];
    if (db >= 0) kb *= b[db];
  }
  return g;
}

template <BinaryOp Op>
__device__ float apply(float a, float b) {
  if constexpr (Op == BinaryOp::Add) return a + b;
  if constexpr (Op == BinaryOp::Sub) return a - b;
  if constexpr (Op == BinaryOp::Mul) return a * b;
  return a / b;
}

template <BinaryOp Op>
__global__ void binary_same(const float* a, const float* b, float* out, int64_t n) {
  FM_CUDA_LOOP(i, n) out[i] = apply<Op>(a[i], b[i]);
}

template <BinaryOp Op>
__global__ void binary_broadcast(const float* a, const float* b, float* out, int64_t n, Broadcast g) {
  FM_CUDA_LOOP(i, n) {
    int64_t rem = i, ia = 0, ib = 0;
    for (int d = g.nd - 1; d >= 0; --d) {
      const int64_t c = rem % g.dims[d];
      rem /= g.dims[d];
      ia += c * g.sa[d];
      ib += c * g.sb[d];
    }
    out[i] = apply<Op>(a[ia], b[ib]);
  }
}

template <BinaryOp Op>
void launch_binary(const Tensor& a, const Tensor& b, Tensor& out) {
  const int64_t n = out.numel();
  if (a.shape() == out.shape() && b.shape() == out.shape())
    FM_LAUNCH(binary_same<Op>, grid_for(n), kThreads, 0, stream())(ptr(a), ptr(b), ptr(out), n);
  else
    FM_LAUNCH(binary_broadcast<Op>, grid_for(n), kThreads, 0, stream())(ptr(a), ptr(b), ptr(out), n,
                                                                 broadcast_of(a.shape(), b.shape(), out.shape()));
  launched("binary");
}

__global__ void scale_kernel(const float* x, float s, float* y, int64_t n) { FM_CUDA_LOOP(i, n) y[i] = s * x[i]; }
__global__ void axpy_kernel(float alpha, const float* x, float* y, int64_t n) { FM_CUDA_LOOP(i, n) y[i] += alpha * x[i]; }
__global__ void add_scalar_kernel(const float* x, float s, float* y, int64_t n) { FM_CUDA_LOOP(i, n) y[i] = x[i] + s; }
__global__ void dropout_kernel(float* u, float p, float keep, int64_t n) { FM_CUDA_LOOP(i, n) u[i] = fused::dropout_mask(u[i], p, keep); }

__global__ void path_mix_kernel(const float* x0, const float* x1, const float* coef, float* xt, float* ut, int64_t row,
                                int64_t n) {
  FM_CUDA_LOOP(j, n) fused::path_mix(coef + 4 * (j / row), x0[j], x1[j], xt[j], ut[j]);
}

}  // namespace

Tensor unary(UnaryOp op, const Tensor& x) {
  Tensor y = Tensor::empty(x.shape(), Device::CUDA);
  const int64_t n = x.numel();
  with_unary_functor(op, [&](auto f) {
    FM_LAUNCH(unary_kernel<decltype(f)>, grid_for(n), kThreads, 0, stream())(ptr(x), ptr(y), n);
  });
  launched("unary");
  return y;
}

Tensor unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& dy) {
  Tensor dx = Tensor::empty(x.shape(), Device::CUDA);
  const int64_t n = x.numel();
  with_unary_functor(op, [&](auto f) {
    FM_LAUNCH(unary_backward_kernel<decltype(f)>, grid_for(n), kThreads, 0, stream())(ptr(x), ptr(y), ptr(dy), ptr(dx), n);
  });
  launched("unary_backward");
  return dx;
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  Tensor out = Tensor::empty(broadcast_shape(a.shape(), b.shape()), Device::CUDA);
  switch (op) {
    case BinaryOp::Add: launch_binary<BinaryOp::Add>(a, b, out); break;
    case BinaryOp::Sub: launch_binary<BinaryOp::Sub>(a, b, out); break;
    case BinaryOp::Mul: launch_binary<BinaryOp::Mul>(a, b, out); break;
    case BinaryOp::Div: launch_binary<BinaryOp::Div>(a, b, out); break;
  }
  return out;
}

Tensor scale(const Tensor& x, float s) {
  Tensor y = Tensor::empty(x.shape(), Device::CUDA);
  FM_LAUNCH(scale_kernel, grid_for(x.numel()), kThreads, 0, stream())(ptr(x), s, ptr(y), x.numel());
  launched("scale");
  return y;
}

void scale_(Tensor& x, float s) {
  FM_LAUNCH(scale_kernel, grid_for(x.numel()), kThreads, 0, stream())(ptr(x), s, ptr(x), x.numel());
  launched("scale_");
}

void axpy_(float alpha, const Tensor& x, Tensor& y) {
  FM_LAUNCH(axpy_kernel, grid_for(x.numel()), kThreads, 0, stream())(alpha, ptr(x), ptr(y), x.numel());
  launched("axpy_");
}

Tensor add_scalar(const Tensor& x, float s) {
  Tensor y = Tensor::empty(x.shape(), Device::CUDA);
  FM_LAUNCH(add_scalar_kernel, grid_for(x.numel()), kThreads, 0, stream())(ptr(x), s, ptr(y), x.numel());
  launched("add_scalar");
  return y;
}

void dropout_mask_(Tensor& u, float p) {
  const float keep = fused::dropout_keep(p);
  FM_LAUNCH(dropout_kernel, grid_for(u.numel()), kThreads, 0, stream())(ptr(u), p, keep, u.numel());
  launched("dropout_mask_");
}

void path_mix_(const Tensor& x0, const Tensor& x1, const Tensor& coef, Tensor& xt, Tensor& ut) {
  const int64_t B = x1.dim(0), n = x1.numel(), row = B ? n / B : 1;
  if (n == 0) return;
  FM_LAUNCH(path_mix_kernel, grid_for(n), kThreads, 0, stream())(ptr(x0), ptr(x1), ptr(coef), ptr(xt), ptr(ut), row, n);
  launched("path_mix_");
}

}  // namespace fm::cuda
