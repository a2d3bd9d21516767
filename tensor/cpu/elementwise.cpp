// tensor/cpu/elementwise.cpp: unary and broadcasting binary kernels.
//
// Each unary op is one scalar functor with its forward value f(x) and its derivative, written
// once and reused by the forward and the backward loops. The loops are plain `for` loops over
// contiguous floats that the compiler vectorises; parallel_for splits them into chunks.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "tensor/activation.h"
#include "tensor/fused_math.h"
#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"
#include "tensor/cpu/simd.h"

namespace fm::cpu {

namespace {

using namespace act;  // the functors of tensor/activation.h

const int64_t kGrain = grain_for(1);  // elements per parallel chunk

// The leaf loops, compiled for AVX-512 / AVX2 / baseline (tensor/cpu/simd.h).
template <class F>
FM_SIMD_CLONES void unary_kernel(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = F::f(x[i]);
}

template <class F>
FM_SIMD_CLONES void unary_backward_kernel(const float* x, const float* y, const float* dy, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * F::df(x[i], y[i]);
}

template <class F>
FM_SIMD_CLONES void binary_kernel(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = F::f(a[i], b[i]);
}

template <class F>
void unary_loop(const float* x, float* y, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) { unary_kernel<F>(x + lo, y + lo, hi - lo); });
}

template <class F>
void unary_backward_loop(const float* x, const float* y, const float* dy, float* dx, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) {
    unary_backward_kernel<F>(x + lo, y + lo, dy + lo, dx + lo, hi - lo);
  });
}

struct AddOp { static float f(float a, float b) { return a + b; } };
struct SubOp { static float f(float a, float b) { return a - b; } };
struct MulOp { static float f(float a, float b) { return a * b; } };
struct DivOp { static float f(float a, float b) { return a / b; } };

// out[i] = F(a[ia], b[ib]) where a and b are indexed through broadcast strides (0 on stretched
// dimensions). The innermost dimension is a tight loop with stride 0 or 1 on each side.
template <class F>
void broadcast_loop(const Tensor& a, const Tensor& b, Tensor& out) {
  const Shape& os = out.shape();
  int nd = out.ndim();
  int64_t n = out.numel();
  const float* pa = a.data();
  const float* pb = b.data();
  float* po = out.data();
  if (a.shape() == os && b.shape() == os) {  // same shape: the common case
    parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) { binary_kernel<F>(pa + lo, pb + lo, po + lo, hi - lo); });
    return;
  }
  if (b.numel() == 1) {
    float s = pb[0];
    parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) po[i] = F::f(pa[i], s);
    });
    return;
  }
  // Strides of a and b in the output's index space (0 where the dimension is broadcast).
  std::vector<int64_t> sa(nd, 0), sb(nd, 0);
  int64_t ka = 1, kb = 1;
  for (int d = nd - 1, da = a.ndim() - 1, db = b.ndim() - 1; d >= 0; --d, --da, --db) {
    if (da >= 0) { sa[d] = a.shape()[da] == 1 ? 0 : ka; ka *= a.shape()[da]; }
    if (db >= 0) { sb[d] = b.shape()[db] == 1 ? 0 : kb; kb *= b.shape()[db]; }
  }
  int64_t inner = nd ? os[nd - 1] : 1;
  int64_t outer = inner ? n / inner : 0;
  int64_t ia_step = nd ? sa[nd - 1] : 0, ib_step = nd ? sb[nd - 1] : 0;
  parallel_for(outer, grain_for(inner), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      // Decompose the row index into the output's leading coordinates.
      int64_t rem = r, oa = 0, ob = 0;
      for (int d = nd - 2; d >= 0; --d) {
        int64_t c = rem % os[d];
        rem /= os[d];
        oa += c * sa[d];
        ob += c * sb[d];
      }
      float* o = po + r * inner;
      const float* ra = pa + oa;
      const float* rb = pb + ob;
      for (int64_t j = 0; j < inner; ++j) o[j] = F::f(ra[j * ia_step], rb[j * ib_step]);
    }
  });
}

}  // namespace

Tensor unary(UnaryOp op, const Tensor& x) {
  Tensor y = Tensor::empty(x.shape());
  with_unary_functor(op, [&](auto f) { unary_loop<decltype(f)>(x.data(), y.data(), x.numel()); });
  return y;
}

Tensor unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& dy) {
  Tensor dx = Tensor::empty(x.shape());
  with_unary_functor(op, [&](auto f) {
    unary_backward_loop<decltype(f)>(x.data(), y.data(), dy.data(), dx.data(), x.numel());
  });
  return dx;
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  Tensor out = Tensor::empty(broadcast_shape(a.shape(), b.shape()));
  switch (op) {
    case BinaryOp::Add: broadcast_loop<AddOp>(a, b, out); break;
    case BinaryOp::Sub: broadcast_loop<SubOp>(a, b, out); break;
    case BinaryOp::Mul: broadcast_loop<MulOp>(a, b, out); break;
    case BinaryOp::Div: broadcast_loop<DivOp>(a, b, out); break;
  }
  return out;
}

Tensor scale(const Tensor& x, float s) {
  Tensor y = Tensor::empty(x.shape());
  const float* px = x.data();
  float* py = y.data();
  parallel_for(x.numel(), kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) py[i] = s * px[i];
  });
  return y;
}

void scale_(Tensor& x, float s) {
  float* px = x.data();
  parallel_for(x.numel(), kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) px[i] *= s;
  });
}

void axpy_(float alpha, const Tensor& x, Tensor& y) {
  const float* px = x.data();
  float* py = y.data();
  parallel_for(x.numel(), kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) py[i] += alpha * px[i];
  });
}

Tensor add_scalar(const Tensor& x, float s) {
  Tensor y = Tensor::empty(x.shape());
  const float* px = x.data();
  float* py = y.data();
  parallel_for(x.numel(), kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) py[i] = px[i] + s;
  });
  return y;
}

void dropout_mask_(Tensor& u, float p) {
  const float keep = fused::dropout_keep(p);
  float* pm = u.data();
  parallel_for(u.numel(), kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) pm[i] = fused::dropout_mask(pm[i], p, keep);
  });
}

void path_mix_(const Tensor& x0, const Tensor& x1, const Tensor& coef, Tensor& xt, Tensor& ut) {
  const int64_t B = x1.dim(0), row = B ? x1.numel() / B : 0;
  const float *p0 = x0.data(), *p1 = x1.data(), *pc = coef.data();
  float *pxt = xt.data(), *put = ut.data();
  parallel_for(B, grain_for(4 * row), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i)
      for (int64_t j = i * row; j < (i + 1) * row; ++j) fused::path_mix(pc + 4 * i, p0[j], p1[j], pxt[j], put[j]);
  });
}

}  // namespace fm::cpu
