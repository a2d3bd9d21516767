// tensor/cpu/simd.h: run-time SIMD dispatch for plain loops.
//
// The build targets baseline x86-64 (no -march=native), so ordinary code is vectorised with
// 128-bit SSE only. A loop marked FM_SIMD_CLONES is compiled three times (AVX-512, AVX2, baseline)
// and the first call picks the widest version this CPU supports (GCC's target_clones, resolved
// once by the dynamic loader). Use it on small leaf functions over float arrays; the inline
// scalar functors they call are inlined into each clone. Without the x86 kernels
// (FM_HAVE_X86_KERNELS 0: a non-x86 host, or -Dsimd_x86=false) it is a no-op, so that such a
// build is the baseline code alone.
#pragma once

#include "fm_config.h"

#if FM_HAVE_X86_KERNELS && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FM_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FM_SIMD_CLONES
#endif
