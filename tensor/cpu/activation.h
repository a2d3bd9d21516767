// tensor/cpu/activation.h: the scalar math of the activations, each forward value f(x) written next
// to its derivative df(x, y = f(x)). Plain arithmetic, inlined into loops that the compiler
// vectorises (elementwise.cpp, the fused group norm + SiLU in group_norm.cpp).
#pragma once
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace fm::act {

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

}  // namespace fm::act
