// tensor/cpu/lanes.cpp
#include "tensor/cpu/lanes.h"

#include <algorithm>

#include "tensor/cpu/simd.h"

namespace fm::cpu {

constexpr int kLanes = 16;

FM_SIMD_CLONES double lane_sum(const float* a, int64_t n) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += a[i + j];
  double s = 0.0;
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  for (; i < n; ++i) s += a[i];
  return s;
}

// sum_i a[i] * (b[i] - m)
FM_SIMD_CLONES double lane_dot_centered(const float* a, const float* b, float m, int64_t n) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += a[i + j] * (b[i + j] - m);
  double s = 0.0;
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  for (; i < n; ++i) s += double(a[i]) * (b[i] - m);
  return s;
}

// sum_i (a[i] - m)^2
FM_SIMD_CLONES double lane_sumsq_centered(const float* a, float m, int64_t n) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += (a[i + j] - m) * (a[i + j] - m);
  double s = 0.0;
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  for (; i < n; ++i) s += double(a[i] - m) * (a[i] - m);
  return s;
}

FM_SIMD_CLONES float lane_max(const float* a, int64_t n) {
  float acc[kLanes];
  for (int j = 0; j < kLanes; ++j) acc[j] = a[0];
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] = std::max(acc[j], a[i + j]);
  float m = a[0];
  for (int j = 0; j < kLanes; ++j) m = std::max(m, acc[j]);
  for (; i < n; ++i) m = std::max(m, a[i]);
  return m;
}

}  // namespace fm::cpu
