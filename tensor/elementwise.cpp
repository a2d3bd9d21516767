// tensor/elementwise.cpp: unary and broadcasting binary kernels.
//
// Each unary op is one scalar functor with its forward value f(x) and its derivative, written
// once and reused by the forward and the backward loops. The loops are plain `for` loops over
// contiguous floats that the compiler vectorises; OpenMP splits them into chunks.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "tensor/ops.h"
#include "tensor/parallel.h"
#include "tensor/simd.h"

namespace fm {

namespace {

constexpr int64_t kGrain = 1 << 14;  // elements per parallel chunk: below this, threads cost more

// exp(x) in plain arithmetic so the compiler can vectorise loops that call it (std::exp is a
// library call it cannot). Range reduction: x = k ln2 + r with integer k and |r| <= ln2/2, so
// exp(x) = 2^k exp(r); exp(r) by its Taylor series to r^6 (truncation < 1.2e-7 relative, about
// one float ulp); 2^k is built directly in the exponent bits. k is rounded with the 1.5 * 2^23
// trick (adding it pushes the fraction bits out). Inputs are clamped to [-87.3, 88.7], where
// 2^k stays a normal float: exp(-100) comes out as 1.2e-38 instead of 3.7e-44, harmless here.
inline float fast_exp(float x) {
  x = std::min(std::max(x, -87.3f), 88.7f);
  const float shifter = 12582912.0f;  // 1.5 * 2^23
  float kf = x * 1.44269504f + shifter;
  int32_t k = std::bit_cast<int32_t>(kf) - std::bit_cast<int32_t>(shifter);
  kf -= shifter;
  float r = x - kf * 0.693145752f - kf * 1.42860677e-6f;  // ln2 split in two for accuracy
  float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
  return p * std::bit_cast<float>((k + 127) << 23);
}

inline float sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

// f: forward value. df: derivative from (x, y = f(x)); each picks what is cheapest.
struct Neg     { static float f(float x) { return -x; }               static float df(float, float) { return -1.0f; } };
struct Exp     { static float f(float x) { return fast_exp(x); }      static float df(float, float y) { return y; } };
struct Log     { static float f(float x) { return std::log(x); }      static float df(float x, float) { return 1.0f / x; } };
struct Sqrt    { static float f(float x) { return std::sqrt(x); }     static float df(float, float y) { return 0.5f / y; } };
struct Square  { static float f(float x) { return x * x; }            static float df(float x, float) { return 2.0f * x; } };
struct Tanh    { static float f(float x) { return std::tanh(x); }     static float df(float, float y) { return 1.0f - y * y; } };
struct Abs     { static float f(float x) { return std::fabs(x); }     static float df(float x, float) { return x > 0 ? 1.0f : (x < 0 ? -1.0f : 0.0f); } };
struct Sigmoid { static float f(float x) { return sigmoid(x); }       static float df(float, float y) { return y * (1.0f - y); } };
// SiLU (swish): x * sigmoid(x); d/dx = s + x s (1 - s) with s = sigmoid(x).
struct Silu {
  static float f(float x) { return x * sigmoid(x); }
  static float df(float x, float) { float s = sigmoid(x); return s * (1.0f + x * (1.0f - s)); }
};

// The leaf loops, compiled for AVX-512 / AVX2 / baseline (tensor/simd.h).
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

template <class Fn>
void dispatch_unary(UnaryOp op, const Fn& fn) {
  switch (op) {
    case UnaryOp::Neg: return fn(Neg{});
    case UnaryOp::Exp: return fn(Exp{});
    case UnaryOp::Log: return fn(Log{});
    case UnaryOp::Sqrt: return fn(Sqrt{});
    case UnaryOp::Square: return fn(Square{});
    case UnaryOp::Tanh: return fn(Tanh{});
    case UnaryOp::Sigmoid: return fn(Sigmoid{});
    case UnaryOp::Silu: return fn(Silu{});
    case UnaryOp::Abs: return fn(Abs{});
  }
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
  parallel_for(outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1)), [&](int64_t lo, int64_t hi) {
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

const char* unary_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: return "neg";
    case UnaryOp::Exp: return "exp";
    case UnaryOp::Log: return "log";
    case UnaryOp::Sqrt: return "sqrt";
    case UnaryOp::Square: return "square";
    case UnaryOp::Tanh: return "tanh";
    case UnaryOp::Sigmoid: return "sigmoid";
    case UnaryOp::Silu: return "silu";
    case UnaryOp::Abs: return "abs";
  }
  return "?";
}

Tensor unary(UnaryOp op, const Tensor& x) {
  Tensor y = Tensor::empty(x.shape());
  dispatch_unary(op, [&](auto f) { unary_loop<decltype(f)>(x.data(), y.data(), x.numel()); });
  return y;
}

Tensor unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& dy) {
  Tensor dx = Tensor::empty(x.shape());
  dispatch_unary(op, [&](auto f) {
    unary_backward_loop<decltype(f)>(x.data(), y.data(), dy.data(), dx.data(), x.numel());
  });
  return dx;
}

Shape broadcast_shape(const Shape& a, const Shape& b) {
  size_t nd = std::max(a.size(), b.size());
  Shape out(nd);
  for (size_t i = 0; i < nd; ++i) {
    int64_t da = i < nd - a.size() ? 1 : a[i - (nd - a.size())];
    int64_t db = i < nd - b.size() ? 1 : b[i - (nd - b.size())];
    if (da != db && da != 1 && db != 1)
      throw std::runtime_error("shapes " + shape_str(a) + " and " + shape_str(b) + " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
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

void add_(Tensor& y, const Tensor& x) { axpy_(1.0f, x, y); }

void axpy_(float alpha, const Tensor& x, Tensor& y) {
  if (x.numel() != y.numel())
    throw std::runtime_error("axpy_: " + shape_str(x.shape()) + " into " + shape_str(y.shape()));
  const float* px = x.data();
  float* py = y.data();
  parallel_for(x.numel(), kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) py[i] += alpha * px[i];
  });
}

}  // namespace fm
