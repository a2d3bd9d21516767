// tensor/cpu/gemm_kernels.cpp: the micro-kernels behind sgemm, one set per instruction set.
//
// The file is compiled for baseline x86-64; the AVX2 and AVX-512 code lives in functions marked
// __attribute__((target(...))) and is only called after __builtin_cpu_supports says it may be.

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tensor/cpu/avx512.h"
#include "tensor/cpu/gemm_kernels.h"

#define FM_INLINE inline __attribute__((always_inline))
#define FM_AVX2 __attribute__((target("avx2,fma")))

namespace fm::cpu::gemm_detail {
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
  zero_tile<MR, NV>(acc);
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
    rank1_update<MR, NV>(acc, a, bv);
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
// Packing (see PackBlock). A k-major source is swept row by row across all panels of the block,
// so that memory is read in long runs: a 14-float run per row and panel streams badly from DRAM.
// ---------------------------------------------------------------------------------------------

void pack_generic(bool k_major, const float* src, int64_t ld, int64_t rows, int64_t kc, int width,
                  float* dst) {
  if (k_major) {
    for (int64_t k = 0; k < kc; ++k)
      for (int64_t p = 0; p < rows; p += width) {
        const float* s = src + k * ld + p;
        float* d = dst + p * kc + k * width;
        const int n = int(std::min<int64_t>(width, rows - p));
        for (int r = 0; r < n; ++r) d[r] = s[r];
        for (int r = n; r < width; ++r) d[r] = 0.0f;
      }
    return;
  }
  // A transpose. Read a run of 16 k (one cache line) from each row in turn, rather than one float
  // of every row per k: at a stride of 1024 floats all rows fall in one L1 set and evict each other.
  constexpr int64_t kRun = 16;
  for (int64_t p = 0; p < rows; p += width) {
    const int n = int(std::min<int64_t>(width, rows - p));
    for (int64_t k0 = 0; k0 < kc; k0 += kRun) {
      const int64_t kn = std::min(kRun, kc - k0);
      float* d = dst + p * kc + k0 * width;
      for (int r = 0; r < n; ++r) {
        const float* s = src + (p + r) * ld + k0;
        for (int64_t k = 0; k < kn; ++k) d[k * width + r] = s[k];
      }
      for (int64_t k = 0; k < kn; ++k)
        for (int r = n; r < width; ++r) d[k * width + r] = 0.0f;
    }
  }
}

// AVX-512 packing: masked loads supply the zero padding; the transposing case moves 16 x 16
// blocks through registers, about twice as fast as the scalar loop.
FM_AVX512 void pack_avx512(bool k_major, const float* src, int64_t ld, int64_t rows, int64_t kc,
                           int width, float* dst) {
  if (k_major) {
    for (int64_t k = 0; k < kc; ++k)
      for (int64_t p = 0; p < rows; p += width)
        for (int g = 0; g < width; g += 16)
          _mm512_mask_storeu_ps(dst + p * kc + k * width + g, first_lanes(width - g),
                                _mm512_maskz_loadu_ps(first_lanes(rows - p - g), src + k * ld + p + g));
    return;
  }
  for (int64_t p = 0; p < rows; p += width)
    for (int g = 0; g < width; g += 16) {  // rows p+g .. p+g+15 of the source
      for (int64_t k0 = 0; k0 < kc; k0 += 16) {
        const __mmask16 kmask = first_lanes(kc - k0);
        __m512 x[16];
        for (int r = 0; r < 16; ++r)
          x[r] = p + g + r < rows ? _mm512_maskz_loadu_ps(kmask, src + (p + g + r) * ld + k0)
                                  : _mm512_setzero_ps();
        transpose16(x);
        const int64_t kn = std::min<int64_t>(16, kc - k0);
        for (int64_t k = 0; k < kn; ++k)
          _mm512_mask_storeu_ps(dst + p * kc + (k0 + k) * width + g, first_lanes(width - g), x[k]);
      }
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

// Widths: for NS = 4, 4 x kW / (lanes per vector) accumulators must fit in the register file.
FM_AVX512 void dot_avx512(const SmallGemm& g, int64_t l0, int64_t l1) { dot_body<32>(g, l0, l1); }
FM_AVX512 void axpy_avx512(const SmallGemm& g, int64_t l0, int64_t l1) { axpy_body<64>(g, l0, l1); }
FM_AVX2 void dot_avx2(const SmallGemm& g, int64_t l0, int64_t l1) { dot_body<16>(g, l0, l1); }
FM_AVX2 void axpy_avx2(const SmallGemm& g, int64_t l0, int64_t l1) { axpy_body<24>(g, l0, l1); }
void dot_portable(const SmallGemm& g, int64_t l0, int64_t l1) { dot_body<8>(g, l0, l1); }
void axpy_portable(const SmallGemm& g, int64_t l0, int64_t l1) { axpy_body<12>(g, l0, l1); }

}  // namespace

// Tiles and block sizes (see the scheme at the top of gemm.cpp), measured on the 2-core
// AVX-512 Xeon this was written on:
//  - 14 x 32 uses 28 of the 32 zmm registers as accumulators and needs 16 loads (2 of B, 14
//    broadcasts of A) per 28 FMAs: the best at 1024^3. But a convolution's M is its channel
//    count (16, 32, 64, 96), where 14-row tiles pad away up to 43 %; 8 x 48 (24 accumulators,
//    3 + 8 loads per 24 FMAs) and 8 x 32 divide those exactly.
//  - kc = 256: the 32 KiB B micro-panel stays in the 48 KiB L1 with a 14 KiB A micro-panel; it
//    beat 128, 192 and 384 by 5-10% (fewer passes over C).
//  - mc = 336 rows: a 336 KiB A~ block, well inside the 2 MiB L2 next to B~.
//  - AVX2 (16 ymm registers): 6 x 16, 12 accumulators. Portable: 4 x 8 (see above).
const KernelSet kAvx512 = {"avx512",
                           {{14, 32, 14 * 24, micro_avx512<14, 2>, 1.0},
                            {8, 48, 8 * 42, micro_avx512<8, 3>, 0.95},
                            {8, 32, 8 * 42, micro_avx512<8, 2>, 0.85}},
                           3, 256, 4096, pack_avx512, dot_avx512, axpy_avx512};
const KernelSet kAvx2 = {"avx2", {{6, 16, 6 * 48, micro_avx2<6, 2>, 1.0}}, 1, 256, 4096,
                         pack_generic, dot_avx2, axpy_avx2};
const KernelSet kPortable = {"portable", {{kPortMR, kPortNR, 4 * 64, micro_portable, 1.0}}, 1, 256, 4096,
                             pack_generic, dot_portable, axpy_portable};

namespace {
std::atomic<int> g_forced_tile{-1};
}  // namespace

const Tile& tile_for(const KernelSet& ks, int64_t M, int64_t N) {
  const int forced = g_forced_tile.load(std::memory_order_relaxed);
  if (forced >= 0 && forced < ks.ntiles) return ks.tiles[forced];
  const Tile* best = &ks.tiles[0];
  double best_cost = 0;
  for (int i = 0; i < ks.ntiles; ++i) {
    const Tile& t = ks.tiles[i];
    const double cost = double((M + t.mr - 1) / t.mr * t.mr) * double((N + t.nr - 1) / t.nr * t.nr) / t.speed;
    if (i == 0 || cost < best_cost) best = &t, best_cost = cost;
  }
  return *best;
}

void force_tile(int index) { g_forced_tile.store(index, std::memory_order_relaxed); }

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

}  // namespace fm::cpu::gemm_detail
