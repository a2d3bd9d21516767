// tensor/gemm.cpp: packed, cache-blocked sgemm in the GotoBLAS/BLIS style.
//
// Blocking scheme, outermost loop first (MR x NR, kc, mc, nc per instruction set, gemm_kernels.cpp;
// AVX-512: 14 x 32 tiles, kc = 192, mc = 336, nc = 4096):
//
//   jc: columns of C/B in blocks of nc
//     pc: the K dimension in blocks of kc. op(B)[pc:pc+kc, jc:jc+nc] is packed once into B~,
//         NR-column micro-panels (kc x NR each, row by row), shared by all threads (L3).
//       parallel for over work units: ranges of MR-row tiles (or, when M has too few tiles for
//       the threads, ranges of NR-column panels)
//         ic: rows in blocks of mc. op(A)[ic:ic+mc, pc:pc+kc] is packed into this thread's A~,
//             MR-row micro-panels (MR x kc each, column by column); mc x kc floats sit in L2.
//           jr: one NR-column micro-panel of B~ (kc x NR floats: 24 KiB for AVX-512, in L1)
//             ir: one MR-row micro-panel of A~ (streamed from L2), and the micro-kernel updates
//                 the MR x NR tile of C in registers: C = alpha * A~ B~ + beta' * C.
//
// beta' is the caller's beta for the first kc block and 1 afterwards. Packing pads the edge
// panels with zeros, so the micro-kernel always runs full tiles and only masks its stores; the
// transposes are absorbed by packing, so the micro-kernel sees one layout.
//
// Determinism: every C element is reduced over k in the same order whatever the thread count:
// the K loop is never split across threads, and the kc blocks depend on K alone. Threads only
// decide which tiles they compute.
//
// Shapes with a tiny M or N (the 2- and 3-wide layers of the MLP) skip the packed path: with
// 14 x 32 tiles most of the work would be padding. They use the "dot" or "axpy" kernels, which
// stream the big operand once and vectorise along k or along the long output dimension.
#include "tensor/gemm.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>

#include "tensor/gemm_kernels.h"

namespace fm {

using gemm_detail::KernelSet;
using gemm_detail::SmallGemm;

void sgemm_reference(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                     int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k)
        acc += double(ta ? A[k * lda + i] : A[i * lda + k]) * double(tb ? B[j * ldb + k] : B[k * ldb + j]);
      float old = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
      C[i * ldc + j] = old + alpha * static_cast<float>(acc);
    }
}

const char* sgemm_kernel_name() { return gemm_detail::active_kernels().name; }

namespace {

// A grow-only, 64-byte aligned scratch buffer; one per thread, reused across calls so that a
// training step does not pay for page faults on every GEMM.
class Scratch {
 public:
  ~Scratch() { std::free(p_); }
  float* get(int64_t n) {
    if (n > n_) {
      std::free(p_);
      n_ = (n + 1023) & ~int64_t(1023);  // whole 4 KiB, also a multiple of the alignment
      p_ = static_cast<float*>(std::aligned_alloc(64, size_t(n_) * sizeof(float)));
    }
    return p_;
  }

 private:
  float* p_ = nullptr;
  int64_t n_ = 0;
};
thread_local Scratch tl_pack_a, tl_pack_b;

// Below this many multiply-adds a parallel region costs more than it saves.
constexpr int64_t kParallelWork = 64 * 64 * 64;
// M or N at most this: the direct small-shape kernels.
constexpr int64_t kTiny = 4;

// Packs rows [i0, i0+m) x columns [p0, p0+kc) of op(A) into MR-row micro-panels:
// dst[panel][k * MR + r], rows past m zero-filled.
void pack_a(bool ta, const float* A, int64_t lda, int64_t i0, int64_t m, int64_t p0, int64_t kc,
            int MR, float* dst) {
  if (ta) {  // op(A)(i, k) = A[k][i]: walk each row k of A once, dealing it out to the panels
    for (int64_t k = 0; k < kc; ++k) {
      const float* src = A + (p0 + k) * lda + i0;
      for (int64_t ir = 0; ir < m; ir += MR) {
        const int mr = int(std::min<int64_t>(MR, m - ir));
        float* d = dst + ir * kc + k * MR;
        for (int r = 0; r < mr; ++r) d[r] = src[ir + r];
        for (int r = mr; r < MR; ++r) d[r] = 0.0f;
      }
    }
    return;
  }
  for (int64_t ir = 0; ir < m; ir += MR, dst += MR * kc) {  // op(A)(i, k) = A[i][k]
    const int mr = int(std::min<int64_t>(MR, m - ir));
    const float* src = A + (i0 + ir) * lda + p0;  // read mr rows side by side, write contiguously
    for (int64_t k = 0; k < kc; ++k) {
      float* d = dst + k * MR;
      for (int r = 0; r < mr; ++r) d[r] = src[r * lda + k];
      for (int r = mr; r < MR; ++r) d[r] = 0.0f;
    }
  }
}

// Packs one NR-column micro-panel: columns [j0, j0+n) x rows [p0, p0+kc) of op(B) into
// dst[k * NR + j], columns past n zero-filled.
void pack_b_panel(bool tb, const float* B, int64_t ldb, int64_t p0, int64_t kc, int64_t j0, int n,
                  int NR, float* dst) {
  for (int64_t k = 0; k < kc; ++k) {
    float* d = dst + k * NR;
    if (tb) {  // op(B)(k, j) = B[j][k]
      const float* src = B + j0 * ldb + p0 + k;
      for (int j = 0; j < n; ++j) d[j] = src[j * ldb];
    } else {
      const float* src = B + (p0 + k) * ldb + j0;
      for (int j = 0; j < n; ++j) d[j] = src[j];
    }
    for (int j = n; j < NR; ++j) d[j] = 0.0f;
  }
}

void gemm_packed(const KernelSet& ks, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                 float alpha, const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                 float* C, int64_t ldc) {
  const int MR = ks.mr, NR = ks.nr;
  // K blocks of (nearly) equal depth, a function of K only: 1000 -> 6 x 167 rather than 5 x 192 + 40.
  const int64_t kblocks = (K + ks.kc - 1) / ks.kc;
  const int64_t kc_max = (K + kblocks - 1) / kblocks;
  const int64_t nc_max = std::min(ks.nc, (N + NR - 1) / NR * NR);
  float* bpack = tl_pack_b.get(kc_max * nc_max);
  const int64_t tiles_m = (M + MR - 1) / MR, mc_tiles = ks.mc / MR;
  const bool parallel = M * N * K >= kParallelWork && omp_get_max_threads() > 1;

#pragma omp parallel if (parallel)
  {
    const int64_t P = omp_get_num_threads();
    float* apack = tl_pack_a.get(std::min(mc_tiles, tiles_m) * MR * kc_max);
    for (int64_t jc = 0; jc < N; jc += ks.nc) {
      const int64_t nc = std::min(ks.nc, N - jc), panels = (nc + NR - 1) / NR;
      // Units of work: split the M tiles if there are enough to go round, else the N panels
      // (each unit then packs the A rows itself, which is cheap since M is small).
      const bool split_m = tiles_m >= 2 * P || panels < tiles_m;
      const int64_t units = split_m ? P * ((tiles_m + P * mc_tiles - 1) / (P * mc_tiles))
                                    : std::min(P, panels);
      for (int64_t pc = 0; pc < K; pc += kc_max) {
        const int64_t kc = std::min(kc_max, K - pc);
        const float beta_k = pc == 0 ? beta : 1.0f;
#pragma omp for schedule(static)
        for (int64_t q = 0; q < panels; ++q)
          pack_b_panel(tb, B, ldb, pc, kc, jc + q * NR, int(std::min<int64_t>(NR, nc - q * NR)), NR,
                       bpack + q * NR * kc);
        // (implicit barrier: B~ is complete)
#pragma omp for schedule(static)
        for (int64_t u = 0; u < units; ++u) {
          const int64_t t0 = split_m ? tiles_m * u / units : 0;
          const int64_t t1 = split_m ? tiles_m * (u + 1) / units : tiles_m;
          const int64_t q0 = split_m ? 0 : panels * u / units;
          const int64_t q1 = split_m ? panels : panels * (u + 1) / units;
          for (int64_t tc = t0; tc < t1; tc += mc_tiles) {
            const int64_t i0 = tc * MR, m = std::min((t1 - tc) * MR, std::min(mc_tiles * MR, M - i0));
            pack_a(ta, A, lda, i0, m, pc, kc, MR, apack);
            for (int64_t q = q0; q < q1; ++q) {
              const int64_t j = jc + q * NR;
              const int n = int(std::min<int64_t>(NR, jc + nc - j));
              const float* bp = bpack + q * NR * kc;
              for (int64_t ir = 0; ir < m; ir += MR)
                ks.micro(kc, apack + ir * kc, bp, C + (i0 + ir) * ldc + j, ldc, alpha, beta_k,
                         int(std::min<int64_t>(MR, m - ir)), n);
            }
          }
        }
        // (implicit barrier: nobody still reads B~ when the next kc block overwrites it)
      }
    }
  }
}

// Tiny M or N: pack the small operand as Q (S x K or K x S) and run the dot or axpy kernel over
// chunks of the long dimension L.
void gemm_small(const KernelSet& ks, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                float alpha, const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                float* C, int64_t ldc) {
  SmallGemm g{};
  g.K = K, g.alpha = alpha, g.beta = beta, g.C = C;
  bool dot;
  auto opa = [&](int64_t i, int64_t k) { return ta ? A[k * lda + i] : A[i * lda + k]; };
  auto opb = [&](int64_t k, int64_t j) { return tb ? B[j * ldb + k] : B[k * ldb + j]; };
  float* q = tl_pack_b.get(K * std::min(M, N));
  if (N <= kTiny) {  // L runs over the rows of C, S over its few columns
    g.L = M, g.S = N, g.P = A, g.ldp = lda, g.rs = ldc, g.cs = 1;
    dot = !ta;       // rows of A are contiguous along k: dot form; else along i: axpy form
    for (int64_t k = 0; k < K; ++k)
      for (int64_t s = 0; s < N; ++s) (dot ? q[s * K + k] : q[k * N + s]) = opb(k, s);
  } else {  // M <= kTiny: L runs over the columns of C, S over its few rows
    g.L = N, g.S = M, g.P = B, g.ldp = ldb, g.rs = 1, g.cs = ldc;
    dot = tb;
    for (int64_t k = 0; k < K; ++k)
      for (int64_t s = 0; s < M; ++s) (dot ? q[s * K + k] : q[k * M + s]) = opa(s, k);
  }
  g.Q = q;
  const gemm_detail::SmallKernel kernel = dot ? ks.dot : ks.axpy;
  constexpr int64_t kChunk = 128;
  const int64_t chunks = (g.L + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (M * N * K >= kParallelWork && chunks > 1)
  for (int64_t c = 0; c < chunks; ++c) kernel(g, c * kChunk, std::min(g.L, (c + 1) * kChunk));
}

}  // namespace

void sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {  // C = beta * C (BLAS convention: A and B are not read)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return;
  }
  const KernelSet& ks = gemm_detail::active_kernels();
  if (std::min(M, N) <= kTiny)
    gemm_small(ks, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  else
    gemm_packed(ks, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace fm
