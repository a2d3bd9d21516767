// tensor/cpu/gemm_loops.h: the plain-loop bodies shared by the portable and the x86 sgemm kernel
// sets (internal to tensor/; see gemm_kernels.h).
//
// Each body is force-inlined into one small wrapper per instruction set (gemm_kernels.cpp for
// the portable set, gemm_kernels_x86.cpp for AVX2 and AVX-512), so the compiler vectorises each
// copy for its wrapper's target. Nothing here is x86-specific.
#pragma once
#include <cstdint>

#include "tensor/cpu/gemm_kernels.h"

#define FM_INLINE inline __attribute__((always_inline))

namespace fm::cpu::gemm_detail {

// C[0:m, 0:n] = alpha * T + beta * C for a tile T with row stride ldt: the scalar epilogue that
// the AVX2 and portable kernels use on edge tiles (the AVX-512 kernel masks instead).
FM_INLINE void update_tile(const float* t, int ldt, float* c, int64_t ldc, float alpha, float beta,
                           int m, int n) {
  for (int r = 0; r < m; ++r)
    for (int j = 0; j < n; ++j) {
      float x = alpha * t[r * ldt + j];
      c[r * ldc + j] = beta == 0.0f ? x : x + beta * c[r * ldc + j];
    }
}

// ---------------------------------------------------------------------------------------------
// Small-shape kernels (see SmallGemm). Written once as plain loops and inlined into a wrapper
// per instruction set, so the compiler vectorises each copy for its target. Every output is one
// fixed sequence of operations, whatever the [l0, l1) split.
// ---------------------------------------------------------------------------------------------

FM_INLINE void store_small(const SmallGemm& g, int64_t l, int64_t s, float v) {
  float* c = g.C + l * g.rs + s * g.cs;
  float x = g.alpha * v;
  *c = g.beta == 0.0f ? x : x + g.beta * *c;
}

// Dot form: each output is a dot product of two rows contiguous along k. NS outputs of one row l
// are computed together (the row is read once), each kept as kLanes independent partial sums so
// the adds do not wait on each other, folded pairwise at the end.
template <int kLanes, int NS>
FM_INLINE void dot_rows(const SmallGemm& g, int64_t l0, int64_t l1, int64_t s0) {
  const float* q = g.Q + s0 * g.K;
  for (int64_t l = l0; l < l1; ++l) {
    const float* p = g.P + l * g.ldp;
    float acc[NS][kLanes] = {};
    int64_t k = 0;
    for (; k + kLanes <= g.K; k += kLanes)
      for (int s = 0; s < NS; ++s)
        for (int v = 0; v < kLanes; ++v) acc[s][v] += p[k + v] * q[s * g.K + k + v];
    for (int s = 0; s < NS; ++s) {
      float tail = 0.0f;
      for (int64_t kk = k; kk < g.K; ++kk) tail += p[kk] * q[s * g.K + kk];
      for (int w = kLanes / 2; w >= 1; w /= 2)
        for (int v = 0; v < w; ++v) acc[s][v] += acc[s][v + w];
      store_small(g, l, s0 + s, acc[s][0] + tail);
    }
  }
}

template <int kLanes>
FM_INLINE void dot_body(const SmallGemm& g, int64_t l0, int64_t l1) {
  for (int64_t s0 = 0; s0 < g.S; s0 += 4) {
    switch (g.S - s0) {
      case 1: dot_rows<kLanes, 1>(g, l0, l1, s0); break;
      case 2: dot_rows<kLanes, 2>(g, l0, l1, s0); break;
      case 3: dot_rows<kLanes, 3>(g, l0, l1, s0); break;
      default: dot_rows<kLanes, 4>(g, l0, l1, s0); break;
    }
  }
}

// Axpy form: out(l, s) for kW consecutive l and NS values of s stay in registers while the k loop
// streams row k of P (contiguous along l) and multiplies it by the scalars Q(k, s). A last block
// narrower than kW (kFull false) runs the same loop with a run-time width.
template <int kW, int NS, bool kFull>
FM_INLINE void axpy_block(const SmallGemm& g, int64_t lb, int64_t w, int64_t s0) {
  const int64_t width = kFull ? kW : w;
  float acc[NS][kW] = {};
  for (int64_t k = 0; k < g.K; ++k) {
    const float* p = g.P + k * g.ldp + lb;
    for (int s = 0; s < NS; ++s) {
      const float q = g.Q[k * g.S + s0 + s];
      for (int64_t i = 0; i < width; ++i) acc[s][i] += q * p[i];
    }
  }
  for (int s = 0; s < NS; ++s)
    for (int64_t i = 0; i < width; ++i) store_small(g, lb + i, s0 + s, acc[s][i]);
}

template <int kW, int NS>
FM_INLINE void axpy_cols(const SmallGemm& g, int64_t l0, int64_t l1, int64_t s0) {
  int64_t lb = l0;
  for (; lb + kW <= l1; lb += kW) axpy_block<kW, NS, true>(g, lb, kW, s0);
  if (lb < l1) axpy_block<kW, NS, false>(g, lb, l1 - lb, s0);
}

template <int kW>
FM_INLINE void axpy_body(const SmallGemm& g, int64_t l0, int64_t l1) {
  for (int64_t s0 = 0; s0 < g.S; s0 += 4) {
    switch (g.S - s0) {
      case 1: axpy_cols<kW, 1>(g, l0, l1, s0); break;
      case 2: axpy_cols<kW, 2>(g, l0, l1, s0); break;
      case 3: axpy_cols<kW, 3>(g, l0, l1, s0); break;
      default: axpy_cols<kW, 4>(g, l0, l1, s0); break;
    }
  }
}

}  // namespace fm::cpu::gemm_detail
