// tensor/activation.h: the scalar math of the activations, each forward value f(x) written next
// to its derivative df(x, y = f(x)). Plain arithmetic, inlined into loops that the compiler
// vectorises (elementwise.cpp, the fused group norm + SiLU in group_norm.cpp), and compiled for
// the GPU too (FM_HD): the CUDA kernels call the same functions, so the CPU tests cover their math.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#ifdef __CUDACC__
#define FM_HD __host__ __device__
#else
#define FM_HD
#endif

namespace fm::act {

// The bits of a float and back (std::bit_cast is not available in device code).
FM_HD inline int32_t float_bits(float x) {
#ifdef __CUDA_ARCH__
  return __float_as_int(x);
#else
  int32_t i;
  std::memcpy(&i, &x, sizeof i);
  return i;
#endif
}
FM_HD inline float bits_float(int32_t i) {
#ifdef __CUDA_ARCH__
  return __int_as_float(i);
#else
  float x;
  std::memcpy(&x, &i, sizeof x);
  return x;
#endif
}

// exp(x) in plain arithmetic so the compiler can vectorise loops that call it (std::exp is a
// library call it cannot). Range reduction: x = k ln2 + r with integer k and |r| <= ln2/2, so
// exp(x) = 2^k exp(r); exp(r) by its Taylor series to r^6 (truncation < 1.2e-7 relative, about
// one float ulp); 2^k is built directly in the exponent bits. k is rounded with the 1.5 * 2^23
// trick (adding it pushes the fraction bits out). Inputs are clamped to [-87.3, 88.7], where
// 2^k stays a normal float: exp(-100) comes out as 1.2e-38 instead of 3.7e-44, harmless here.
// (The clamp is written as std::max then std::min would be, so NaN passes through.)
FM_HD inline float fast_exp(float x) {
  x = x < -87.3f ? -87.3f : x;
  x = 88.7f < x ? 88.7f : x;
  const float shifter = 12582912.0f;  // 1.5 * 2^23
  float kf = x * 1.44269504f + shifter;
  int32_t k = float_bits(kf) - float_bits(shifter);
  kf -= shifter;
  float r = x - kf * 0.693145752f - kf * 1.42860677e-6f;  // ln2 split in two for accuracy
  float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
  return p * bits_float((k + 127) << 23);
}

FM_HD inline float sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

// f: forward value. df: derivative from (x, y = f(x)); each picks what is cheapest.
struct Neg     { FM_HD static float f(float x) { return -x; }               FM_HD static float df(float, float) { return -1.0f; } };
struct Exp     { FM_HD static float f(float x) { return fast_exp(x); }      FM_HD static float df(float, float y) { return y; } };
struct Log     { FM_HD static float f(float x) { return logf(x); }      FM_HD static float df(float x, float) { return 1.0f / x; } };
struct Sqrt    { FM_HD static float f(float x) { return sqrtf(x); }     FM_HD static float df(float, float y) { return 0.5f / y; } };
struct Square  { FM_HD static float f(float x) { return x * x; }            FM_HD static float df(float x, float) { return 2.0f * x; } };
struct Tanh    { FM_HD static float f(float x) { return tanhf(x); }     FM_HD static float df(float, float y) { return 1.0f - y * y; } };
struct Abs     { FM_HD static float f(float x) { return fabsf(x); }     FM_HD static float df(float x, float) { return x > 0 ? 1.0f : (x < 0 ? -1.0f : 0.0f); } };
struct Sigmoid { FM_HD static float f(float x) { return sigmoid(x); }       FM_HD static float df(float, float y) { return y * (1.0f - y); } };
// SiLU (swish): x * sigmoid(x); d/dx = s + x s (1 - s) with s = sigmoid(x).
struct Silu {
  FM_HD static float f(float x) { return x * sigmoid(x); }
  FM_HD static float df(float x, float) { float s = sigmoid(x); return s * (1.0f + x * (1.0f - s)); }
};

// Calls fn(F{}) with the functor of a unary op, so each backend's loops are written once per
// functor. Op is any enum with these names (tensor/ops.h's UnaryOp).
template <class Op, class Fn>
void with_unary_functor(Op op, const Fn& fn) {
  switch (op) {
    case Op::Neg: return fn(Neg{});
    case Op::Exp: return fn(Exp{});
    case Op::Log: return fn(Log{});
    case Op::Sqrt: return fn(Sqrt{});
    case Op::Square: return fn(Square{});
    case Op::Tanh: return fn(Tanh{});
    case Op::Sigmoid: return fn(Sigmoid{});
    case Op::Silu: return fn(Silu{});
    case Op::Abs: return fn(Abs{});
  }
}

}  // namespace fm::act
