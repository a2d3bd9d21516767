// tensor/cpu/cpu_features.cpp: the CPU-feature detection behind cpu_features() (see the header).
#include "tensor/cpu/cpu_features.h"

namespace fm::cpu {

namespace {

CpuFeatures detect() {
  CpuFeatures f{};
#if FM_HAVE_X86_KERNELS
  // GCC's x86 built-in, answered from the CPUID data libgcc reads once at start-up.
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();  // thread-safe, once
  return f;
}

}  // namespace fm::cpu
