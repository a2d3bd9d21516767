// tensor/gemm_kernels.cpp: the micro-kernels behind sgemm, one set per instruction set.
//
// The file is compiled for baseline x86-64; the AVX2 and AVX-512 code lives in functions marked
// __attribute__((target(...))) and is only called after __builtin_cpu_supports says it may be.
#include <immintrin.h>

#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <atomic>

#include "tensor/gemm_kernels.h"

#define FM_INLINE inline __attribute__((always_inline))
#define FM_AVX512 __attribute__((target("avx512f")))
#define FM_AVX2 __attribute__((target("avx2,fma")))

namespace fm::gemm_detail {
namespace {

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
// The micro-kernel (all three sets compute the same thing).
//
// For one MR x NR tile it keeps the whole product in registers, as MR rows of NV vectors:
//
//   acc[r][v] = sum_{k < kc} Ap[k*MR + r] * Bp[k*NR + v*W : k*NR + v*W + W]     (W lanes a vector)
//
// i.e. kc rank-1 updates: each k loads NV vectors of B and, for every row r, broadcasts one
// element of A and issues NV fused multiply-adds. With MR*NV accumulators + NV B vectors + one
// broadcast the register file is nearly full, and each loaded B vector feeds MR FMAs, so the loop
// is bound by the FMA ports rather than by loads. The sum over k runs in a fixed order, so a
// tile's result does not depend on which thread computes it. At the end
//   C[r][j] = alpha * acc[r][j] + beta * C[r][j]        (C not read when beta == 0).
// ---------------------------------------------------------------------------------------------

// AVX-512: MR x (16*NV); edge columns use masked loads/stores, edge rows are skipped.
template <int MR, int NV>
FM_AVX512 void micro_avx512(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                            float alpha, float beta, int m, int n) {
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  // Start fetching the C tile now; it is needed only after the k loop.
  for (int r = 0; r < m; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + 16 * NV - 1), _MM_HINT_T0);
  }

#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k) {
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(b + 16 * v);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      __m512 ar = _mm512_set1_ps(a[r]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(ar, bv[v], acc[r][v]);
    }
    a += MR;
    b += 16 * NV;
  }

  __mmask16 mask[NV];
  for (int v = 0; v < NV; ++v) {
    int rem = n - 16 * v;
    mask[v] = rem >= 16 ? 0xFFFF : rem <= 0 ? 0 : __mmask16((1u << rem) - 1);
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    if (r >= m) break;
    float* cr = c + r * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      __m512 x = _mm512_mul_ps(va, acc[r][v]);
      if (beta != 0.0f) x = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask[v], cr + 16 * v), x);
      _mm512_mask_storeu_ps(cr + 16 * v, mask[v], x);
    }
  }
}

// AVX2 + FMA: MR x (8*NV); edge tiles go through a stack tile and the scalar epilogue.
template <int MR, int NV>
FM_AVX2 void micro_avx2(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                        float alpha, float beta, int m, int n) {
  __m256 acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_ps();

#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k) {
    __m256 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm256_load_ps(b + 8 * v);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      __m256 ar = _mm256_broadcast_ss(a + r);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(ar, bv[v], acc[r][v]);
    }
    a += MR;
    b += 8 * NV;
  }

  if (m == MR && n == 8 * NV) {
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        float* cv = c + r * ldc + 8 * v;
        __m256 x = _mm256_mul_ps(va, acc[r][v]);
        if (beta != 0.0f) x = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cv), x);
        _mm256_storeu_ps(cv, x);
      }
    return;
  }
  alignas(32) float t[MR * 8 * NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) _mm256_store_ps(t + r * 8 * NV + 8 * v, acc[r][v]);
  update_tile(t, 8 * NV, c, ldc, alpha, beta, m, n);
}

// Portable: plain loops the compiler vectorises for whatever the baseline is (SSE2 here). A
// 4 x 8 tile is 8 SSE accumulators, leaving room for B and the broadcast in 16 registers.
constexpr int kPortMR = 4, kPortNR = 8;
void micro_portable(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha,
                    float beta, int m, int n) {
  float acc[kPortMR][kPortNR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    for (int r = 0; r < kPortMR; ++r)
      for (int j = 0; j < kPortNR; ++j) acc[r][j] += a[r] * b[j];
    a += kPortMR;
    b += kPortNR;
  }
  update_tile(&acc[0][0], kPortNR, c, ldc, alpha, beta, m, n);
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

// Dot form: each output is a dot product of two rows contiguous along k, kept as kLanes
// independent partial sums (enough chains to hide the add latency) folded pairwise at the end.
FM_INLINE void dot_body(const SmallGemm& g, int64_t l0, int64_t l1) {
  constexpr int kLanes = 32;
  for (int64_t l = l0; l < l1; ++l) {
    const float* p = g.P + l * g.ldp;
    for (int64_t s = 0; s < g.S; ++s) {
      const float* q = g.Q + s * g.K;
      float acc[kLanes] = {};
      int64_t k = 0;
      for (; k + kLanes <= g.K; k += kLanes)
        for (int v = 0; v < kLanes; ++v) acc[v] += p[k + v] * q[k + v];
      float tail = 0.0f;
      for (; k < g.K; ++k) tail += p[k] * q[k];
      for (int w = kLanes / 2; w >= 1; w /= 2)
        for (int v = 0; v < w; ++v) acc[v] += acc[v + w];
      store_small(g, l, s, acc[0] + tail);
    }
  }
}

// Axpy form: out(l, :) accumulates row k of P (contiguous along l) times Q(k, s), for a block of
// kBlock consecutive l held in a small L1-resident accumulator, streaming P once.
FM_INLINE void axpy_body(const SmallGemm& g, int64_t l0, int64_t l1) {
  constexpr int64_t kBlock = 128, kMaxS = 8;
  alignas(64) float acc[kMaxS][kBlock];
  for (int64_t lb = l0; lb < l1; lb += kBlock) {
    const int64_t w = l1 - lb < kBlock ? l1 - lb : kBlock;
    for (int64_t s0 = 0; s0 < g.S; s0 += kMaxS) {
      const int64_t ns = g.S - s0 < kMaxS ? g.S - s0 : kMaxS;
      for (int64_t s = 0; s < ns; ++s)
        for (int64_t i = 0; i < w; ++i) acc[s][i] = 0.0f;
      for (int64_t k = 0; k < g.K; ++k) {
        const float* p = g.P + k * g.ldp + lb;
        for (int64_t s = 0; s < ns; ++s) {
          const float q = g.Q[k * g.S + s0 + s];
          for (int64_t i = 0; i < w; ++i) acc[s][i] += q * p[i];
        }
      }
      for (int64_t s = 0; s < ns; ++s)
        for (int64_t i = 0; i < w; ++i) store_small(g, lb + i, s0 + s, acc[s][i]);
    }
  }
}

FM_AVX512 void dot_avx512(const SmallGemm& g, int64_t l0, int64_t l1) { dot_body(g, l0, l1); }
FM_AVX512 void axpy_avx512(const SmallGemm& g, int64_t l0, int64_t l1) { axpy_body(g, l0, l1); }
FM_AVX2 void dot_avx2(const SmallGemm& g, int64_t l0, int64_t l1) { dot_body(g, l0, l1); }
FM_AVX2 void axpy_avx2(const SmallGemm& g, int64_t l0, int64_t l1) { axpy_body(g, l0, l1); }
void dot_portable(const SmallGemm& g, int64_t l0, int64_t l1) { dot_body(g, l0, l1); }
void axpy_portable(const SmallGemm& g, int64_t l0, int64_t l1) { axpy_body(g, l0, l1); }

}  // namespace

// Block sizes (see the scheme at the top of gemm.cpp): the kc x NR B micro-panel stays in the
// 48 KiB L1 next to one MR x kc A micro-panel, the mc x kc packed A block stays in the 2 MiB L2.
const KernelSet kAvx512 = {"avx512", 14, 32, 192, 14 * 24, 4096,
                           micro_avx512<14, 2>, dot_avx512, axpy_avx512};
const KernelSet kAvx2 = {"avx2", 6, 16, 256, 6 * 48, 4096, micro_avx2<6, 2>, dot_avx2, axpy_avx2};
const KernelSet kPortable = {"portable", kPortMR, kPortNR, 256, 4 * 64, 4096,
                             micro_portable, dot_portable, axpy_portable};

namespace {

bool supported(const KernelSet& k) {
  if (&k == &kAvx512) return __builtin_cpu_supports("avx512f");
  if (&k == &kAvx2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return true;
}

const KernelSet* by_name(const char* name) {
  for (const KernelSet* k : {&kAvx512, &kAvx2, &kPortable})
    if (std::strcmp(name, k->name) == 0) return k;
  return nullptr;
}

const KernelSet* detect() {
  if (const char* env = std::getenv("FM_GEMM_KERNEL"); env && *env) {
    const KernelSet* k = by_name(env);
    if (k && supported(*k)) return k;
    std::fprintf(stderr, "fm: FM_GEMM_KERNEL=%s is unknown or unsupported here; ignoring it\n", env);
  }
  for (const KernelSet* k : {&kAvx512, &kAvx2})
    if (supported(*k)) return k;
  return &kPortable;
}

std::atomic<const KernelSet*> g_active{nullptr};

}  // namespace

const KernelSet& active_kernels() {
  const KernelSet* k = g_active.load(std::memory_order_acquire);
  if (!k) {
    k = detect();  // idempotent, so a race here only repeats the detection
    g_active.store(k, std::memory_order_release);
  }
  return *k;
}

bool force_kernels(const char* name) {
  if (!name) {
    g_active.store(detect(), std::memory_order_release);
    return true;
  }
  const KernelSet* k = by_name(name);
  if (!k || !supported(*k)) return false;
  g_active.store(k, std::memory_order_release);
  return true;
}

}  // namespace fm::gemm_detail
