// tensor/cpu/best_two.cpp: best_two (tensor/best_two.h): the portable loop, the reference, and the
// choice of the AVX-512 kernel (best_two_x86.cpp) where the CPU has it.
#include "tensor/best_two.h"

#include <cmath>
#include <cstdint>
#include <limits>

#include "tensor/cpu/x86_kernels.h"

namespace fm {
namespace {

int g_force = -1;

BestTwo best_two_portable(const float* a, const float* x, int64_t ldx, const float* b, int64_t n, int64_t d) {
  BestTwo r{-std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(), -1};
  for (int64_t j = 0; j < n; ++j) {
    float v = b[j];
    for (int64_t k = 0; k < d; ++k) v = std::fma(a[k], x[k * ldx + j], v);
    if (v > r.best) r.second = r.best, r.best = v, r.index = j;
    else if (v > r.second) r.second = v;
  }
  return r;
}

}  // namespace

void best_two_force_portable(int mode) { g_force = mode; }

BestTwo best_two(const float* a, const float* x, int64_t ldx, const float* b, int64_t n, int64_t d) {
  if constexpr (cpu::kHaveX86Kernels)
    if (g_force != 1 && cpu::cpu_features().avx512f && n <= INT32_MAX) {  // the kernel's columns are int32
      BestTwo r;
      cpu::x86::best_two_avx512(a, x, ldx, b, n, d, &r.best, &r.second, &r.index);
      return r;
    }
  return best_two_portable(a, x, ldx, b, n, d);
}

}  // namespace fm
