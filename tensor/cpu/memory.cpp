// tensor/cpu/memory.cpp: host copies and fills (Tensor::copy_from, Tensor::fill), in parallel
// chunks: one thread does not saturate the memory bandwidth of a large copy.
#include <cstring>

#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"

namespace fm::cpu {

void copy_floats(float* dst, const float* src, int64_t n) {
  parallel_for(n, grain_for(1), [&](int64_t lo, int64_t hi) { std::memcpy(dst + lo, src + lo, (hi - lo) * sizeof(float)); });
}

void fill_floats(float* dst, float value, int64_t n) {
  parallel_for(n, grain_for(1), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) dst[i] = value;
  });
}

}  // namespace fm::cpu
