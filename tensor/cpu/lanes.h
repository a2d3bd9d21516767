// tensor/cpu/lanes.h: sums along a row of floats with a fixed 16-lane accumulation: vectorised (one
// AVX-512 register of partial sums), and the order of additions depends on n only, never on how
// rows are split between threads. The row kernels of group norm, softmax and the bias gradients.
#pragma once
#include <cstdint>

namespace fm::cpu {

double lane_sum(const float* a, int64_t n);                                  // sum_i a[i]
double lane_dot_centered(const float* a, const float* b, float m, int64_t n);  // sum_i a[i] (b[i] - m)
double lane_sumsq_centered(const float* a, float m, int64_t n);              // sum_i (a[i] - m)^2
float lane_max(const float* a, int64_t n);                                   // max_i a[i], n >= 1

}  // namespace fm::cpu
