// tensor/cpu/cpu_features.h: the one CPU-feature check of the CPU backend (internal to tensor/).
//
// The x86 kernels (AVX2 + FMA, AVX-512) live in files of their own (*_x86.cpp), compiled only on
// an x86 host and only with the Meson option simd_x86 on; FM_HAVE_X86_KERNELS in fm_config.h says
// whether they are in this build. Portable code reaches them through the entry points in
// x86_kernels.h, in two steps:
//
//   if constexpr (kHaveX86Kernels)       // compiled in? (else the call is not even referenced,
//     if (cpu_features().avx512f) ...    //  so the build links without the x86 files)
//                                        // and does this CPU run it?
//
// No other file asks the CPU (__builtin_cpu_supports) itself.
#pragma once
#include "fm_config.h"

namespace fm::cpu {

// Whether the x86 kernel files are compiled and linked in.
inline constexpr bool kHaveX86Kernels = FM_HAVE_X86_KERNELS;

// The instruction sets the kernels of this build may use on this CPU. Detected once; all false
// on a non-x86 host or when the x86 kernels are left out, so the portable code runs.
struct CpuFeatures {
  bool avx512f;   // AVX-512 Foundation: the avx512 sgemm set, the direct convolution, packing
  bool avx2_fma;  // AVX2 and FMA3: the avx2 sgemm set
};
const CpuFeatures& cpu_features();

}  // namespace fm::cpu
