// tensor/cpu/gemm.cpp: packed, cache-blocked sgemm in the GotoBLAS/BLIS style.
//
// Blocking scheme, outermost loop first. MR x NR, kc, mc and nc belong to the instruction set
// and the register tile chosen for the shape (gemm_kernels.cpp: AVX-512 has 14 x 32, 8 x 48 and
// 8 x 32); the numbers below are AVX-512's 14 x 32, for a core with a 48 KiB L1 and 2 MiB L2:
// kc = 256, mc = 336, nc = 4096. (A product that runs on one thread takes gemm_serial below, the
// same scheme with each B panel packed just before use.)
//
//   jc: columns of C and op(B) in blocks of nc
//     pc: K in blocks of kc (<= 256, equal sizes). op(B)[pc:pc+kc, jc:jc+nc] is packed into B~:
//         NR-column micro-panels of kc x NR, shared by all threads (L2/L3: kc x nc floats).
//         When op(A)[:, pc:pc+kc] is small (<= 1 MiB) it is packed the same way into a shared
//         A~; both packs are split between the threads, then a barrier.
//       parallel for (dynamic) over work units: blocks of MR-row tiles, about 4 per thread
//       (or, when M is short, groups of NR-column panels)
//         ic: rows in blocks of mc. Unless shared, op(A)[ic:ic+mc, pc:pc+kc] is packed into the
//             thread's A~: MR-row micro-panels of MR x kc; mc x kc = 336 KiB sits in L2.
//           jr: one micro-panel of B~, kc x NR = 32 KiB, stays in L1 ...
//             ir: ... while the MR x kc micro-panels of A~ (14 KiB) stream past from L2; the
//                 micro-kernel keeps the MR x NR tile of C in registers and at the end writes
//                 C = alpha * A~ B~ + beta' * C.
//
// beta' is the caller's beta for the first kc block and 1 afterwards. Packing pads the edge
// panels with zeros, so the micro-kernel always runs whole tiles and only masks its stores; the
// transposes are absorbed by packing, so the micro-kernel sees one layout. For a tiny K (all of
// B~ fits in L1) the jr and ir loops swap, so that C is written along its rows.
//
// Determinism: every C element is reduced over k in the same order whatever the thread count:
// the K loop is never split across threads, and the kc blocks depend on K alone. Threads only
// decide which tiles they compute.
//
// Shapes with M or N <= 8 (the 2- and 3-wide layers of the MLP) skip the packed path, where most
// of each 14 x 32 tile would be padding. The "dot" and "axpy" kernels stream the big operand once
// and vectorise along k or along the long side of C.
#include "tensor/cpu/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <new>

#include "tensor/cpu/gemm_kernels.h"
#include "tensor/cpu/thread_pool.h"

namespace fm::cpu {

using gemm_detail::KernelSet;
using gemm_detail::SmallGemm;
using gemm_detail::Tile;

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
      if (!p_) throw std::bad_alloc();
    }
    return p_;
  }

 private:
  float* p_ = nullptr;
  int64_t n_ = 0;
};
thread_local Scratch tl_pack_a, tl_pack_b, tl_pack_a_shared;

// Below this many multiply-adds a parallel region costs more than it saves.
constexpr int64_t kParallelWork = 64 * 64 * 64;
// Largest op(A) kc block that the threads pack together (half the 2 MiB L2).
constexpr int64_t kSharedABytes = 1 << 20;
// B~ blocks up to this many floats fit in L1 alongside everything else (a tiny K), so the tiles
// can go along the rows of C, which streams C to memory in long runs.
constexpr int64_t kTinyB = 4096;
// M or N at most this: the direct small-shape kernels.
constexpr int64_t kTiny = 8;

// Packs rows [i0, i0+m) x columns [p0, p0+kc) of op(A) into MR-row micro-panels, one after
// another: panel p holds dst[p * MR * kc + k * MR + r].
void pack_a(const KernelSet& ks, int MR, bool ta, const float* A, int64_t lda, int64_t i0, int64_t m,
            int64_t p0, int64_t kc, float* dst) {
  if (ta)  // op(A)(i, k) = A[k][i]: runs along i
    ks.pack(true, A + p0 * lda + i0, lda, m, kc, MR, dst);
  else
    ks.pack(false, A + i0 * lda + p0, lda, m, kc, MR, dst);
}

// Packs columns [j0, j0+n) x rows [p0, p0+kc) of op(B) into NR-column micro-panels: panel q
// holds dst[q * NR * kc + k * NR + j].
void pack_b(const KernelSet& ks, int NR, bool tb, const float* B, int64_t ldb, int64_t p0, int64_t kc,
            int64_t j0, int64_t n, float* dst) {
  if (tb)  // op(B)(k, j) = B[j][k]: rows along k
    ks.pack(false, B + j0 * ldb + p0, ldb, n, kc, NR, dst);
  else
    ks.pack(true, B + p0 * ldb + j0, ldb, n, kc, NR, dst);
}

// The single-thread driver, for products that run on one thread (small ones, and those run side
// by side, like a convolution's one product per sample) when all of op(A)'s kc block fits in
// half the L2: A~ is packed once per kc block, and each kc x NR panel of B~ is packed just before
// its tiles use it, into one buffer that stays in L1. With few row tiles (a convolution's M is its
// channel count) that saves writing all of B~ to L2 and reading it back. Same k order per element
// as gemm_packed, so the same bits.
template <class PackPanels>
void gemm_serial(const KernelSet& ks, const Tile& tile, bool ta, int64_t M, int64_t N, int64_t K, float alpha,
                 const float* A, int64_t lda, const PackPanels& pack_panels, float beta, float* C, int64_t ldc) {
  const int MR = tile.mr, NR = tile.nr;
  const int64_t kblocks = (K + ks.kc - 1) / ks.kc, kc_max = (K + kblocks - 1) / kblocks;
  const int64_t tiles_m = (M + MR - 1) / MR;
  float* apack = tl_pack_a.get(tiles_m * MR * kc_max);
  float* panel = tl_pack_b.get(NR * kc_max);
  for (int64_t pc = 0; pc < K; pc += kc_max) {
    const int64_t kc = std::min(kc_max, K - pc);
    const float beta_k = pc == 0 ? beta : 1.0f;
    pack_a(ks, MR, ta, A, lda, 0, M, pc, kc, apack);
    for (int64_t j = 0; j < N; j += NR) {
      const int n = int(std::min<int64_t>(NR, N - j));
      pack_panels(pc, kc, j, n, NR, panel);
      for (int64_t i = 0; i < M; i += MR)
        tile.micro(kc, apack + i * kc, panel, C + i * ldc + j, ldc, alpha, beta_k, int(std::min<int64_t>(MR, M - i)), n);
    }
  }
}

// Whether a product runs on this thread alone and gemm_serial can take it.
bool use_serial(const KernelSet& ks, const Tile& tile, int64_t M, int64_t N, int64_t K) {
  const bool one_thread = in_parallel_task() || num_threads() == 1 || M * N * K < kParallelWork;
  const int64_t kblocks = (K + ks.kc - 1) / ks.kc, kc_max = (K + kblocks - 1) / kblocks;
  return one_thread && (M + tile.mr - 1) / tile.mr * tile.mr * kc_max * int64_t(sizeof(float)) <= kSharedABytes;
}

// The packed driver. pack_panels(k0, kc, j0, n, nr, dst) packs op(B)[k0:k0+kc, j0:j0+n] into B~
// panels: from a matrix (sgemm) or straight from an image (sgemm_implicit_b).
template <class PackPanels>
void gemm_packed(const KernelSet& ks, const Tile& tile, bool ta, int64_t M, int64_t N, int64_t K,
                 float alpha, const float* A, int64_t lda, const PackPanels& pack_panels, float beta,
                 float* C, int64_t ldc) {
  const int MR = tile.mr, NR = tile.nr;
  // K blocks of (nearly) equal depth, a function of K only: 1000 -> 4 x 250 rather than 3 x 256 + 232.
  const int64_t kblocks = (K + ks.kc - 1) / ks.kc;
  const int64_t kc_max = (K + kblocks - 1) / kblocks;
  const int64_t nc_max = std::min(ks.nc, (N + NR - 1) / NR * NR);
  const int64_t tiles_m = (M + MR - 1) / MR, mc_tiles = tile.mc / MR;
  // When all of op(A)'s kc block fits in half the L2, the threads pack it together, like B~, in
  // long sweeps; otherwise each work unit packs its own mc rows just before using them.
  const bool shared_a = tiles_m * MR * kc_max * int64_t(sizeof(float)) <= kSharedABytes;
  float* bpack = tl_pack_b.get(kc_max * nc_max);
  float* ashared = shared_a ? tl_pack_a_shared.get(tiles_m * MR * kc_max) : nullptr;
  const bool parallel = M * N * K >= kParallelWork && num_threads() > 1 && !in_parallel_task();
  // Units of work, about 4 per thread and handed out as threads come free, so that a core slowed
  // down by something else takes fewer of them instead of holding up the others: blocks of at
  // most mc rows, or when M is too short for that, groups of NR-column panels.
  const int64_t P = parallel ? num_threads() : 1;
  const bool split_m = tiles_m >= 4 * P;
  const int64_t unit_tiles = split_m ? std::min(mc_tiles, (tiles_m + 4 * P - 1) / (4 * P)) : tiles_m;
  auto tasks = [&](int64_t n, const auto& task) {
    if (parallel)
      run_tasks(n, task);
    else
      for (int64_t i = 0; i < n; ++i) task(i);
  };

  for (int64_t jc = 0; jc < N; jc += ks.nc) {
    const int64_t nc = std::min(ks.nc, N - jc), panels = (nc + NR - 1) / NR;
    const int64_t unit_panels = split_m ? panels : (panels + 4 * P - 1) / (4 * P);
    const int64_t units = split_m ? (tiles_m + unit_tiles - 1) / unit_tiles : (panels + unit_panels - 1) / unit_panels;
    // Packing in 4 shares per thread: share t packs its part of the B~ panels (and of the A~ panels).
    const int64_t shares = 4 * P;
    for (int64_t pc = 0; pc < K; pc += kc_max) {
      const int64_t kc = std::min(kc_max, K - pc);
      const float beta_k = pc == 0 ? beta : 1.0f;  // later kc blocks accumulate onto C
      tasks(shares, [&](int64_t t) {
        const int64_t q0 = panels * t / shares, q1 = panels * (t + 1) / shares;
        if (q1 > q0) pack_panels(pc, kc, jc + q0 * NR, std::min(q1 * NR, nc) - q0 * NR, NR, bpack + q0 * NR * kc);
        const int64_t a0 = tiles_m * t / shares, a1 = tiles_m * (t + 1) / shares;
        if (shared_a && a1 > a0)
          pack_a(ks, MR, ta, A, lda, a0 * MR, std::min(a1 * MR, M) - a0 * MR, pc, kc, ashared + a0 * MR * kc);
      });
      // (B~ and a shared A~ are complete: every task of the packing job has returned)
      tasks(units, [&](int64_t u) {
        const int64_t t0 = split_m ? u * unit_tiles : 0;
        const int64_t t1 = split_m ? std::min(tiles_m, t0 + unit_tiles) : tiles_m;
        const int64_t q0 = split_m ? 0 : u * unit_panels;
        const int64_t q1 = split_m ? panels : std::min(panels, q0 + unit_panels);
        float* apack = shared_a ? nullptr : tl_pack_a.get(std::min(mc_tiles, unit_tiles) * MR * kc_max);
        for (int64_t tc = t0; tc < t1; tc += mc_tiles) {  // ic loop
          const int64_t i0 = tc * MR, m = std::min(std::min(t1 - tc, mc_tiles) * MR, M - i0);
          const float* ap = shared_a ? ashared + i0 * kc : apack;
          if (!shared_a) pack_a(ks, MR, ta, A, lda, i0, m, pc, kc, apack);
          auto run_tile = [&](int64_t q, int64_t ir) {
            const int64_t j = jc + q * NR;
            tile.micro(kc, ap + ir * kc, bpack + q * NR * kc, C + (i0 + ir) * ldc + j, ldc, alpha, beta_k,
                       int(std::min<int64_t>(MR, m - ir)), int(std::min<int64_t>(NR, jc + nc - j)));
          };
          if (kc * (q1 - q0) * NR <= kTinyB) {  // all of B~ sits in L1: sweep C row-wise
            for (int64_t ir = 0; ir < m; ir += MR)
              for (int64_t q = q0; q < q1; ++q) run_tile(q, ir);
          } else {
            for (int64_t q = q0; q < q1; ++q)                          // jr loop: a kc x NR panel of B~ in L1 ...
              for (int64_t ir = 0; ir < m; ir += MR) run_tile(q, ir);  // ir loop: ... meets A~ in L2
          }
        }
      });
      // (nobody still reads B~ when the next kc block overwrites it)
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
  if (N <= kTiny) {  // L runs over the rows of C, S over its few columns
    g.L = M, g.S = N, g.P = A, g.ldp = lda, g.rs = ldc, g.cs = 1;
    dot = !ta;       // rows of A are contiguous along k: dot form; else along i: axpy form
  } else {           // M <= kTiny: L runs over the columns of C, S over its few rows
    g.L = N, g.S = M, g.P = B, g.ldp = ldb, g.rs = 1, g.cs = ldc;
    dot = tb;
  }
  float* q = tl_pack_b.get(K * g.S);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t s = 0; s < g.S; ++s) {
      const float v = N <= kTiny ? opb(k, s) : opa(s, k);
      (dot ? q[s * K + k] : q[k * g.S + s]) = v;
    }
  g.Q = q;
  const gemm_detail::SmallKernel kernel = dot ? ks.dot : ks.axpy;
  constexpr int64_t kChunk = 128;
  const int64_t chunks = (g.L + kChunk - 1) / kChunk;
  auto chunk = [&](int64_t c) { kernel(g, c * kChunk, std::min(g.L, (c + 1) * kChunk)); };
  if (M * N * K >= kParallelWork)
    run_tasks(chunks, chunk);
  else
    for (int64_t c = 0; c < chunks; ++c) chunk(c);
}

// The packed product on one thread or on all of them.
template <class PackPanels>
void gemm_dispatch(const KernelSet& ks, bool ta, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   int64_t lda, const PackPanels& pack_panels, float beta, float* C, int64_t ldc) {
  const Tile& tile = gemm_detail::tile_for(ks, M, N);
  if (use_serial(ks, tile, M, N, K))
    gemm_serial(ks, tile, ta, M, N, K, alpha, A, lda, pack_panels, beta, C, ldc);
  else
    gemm_packed(ks, tile, ta, M, N, K, alpha, A, lda, pack_panels, beta, C, ldc);
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
    gemm_dispatch(ks, ta, M, N, K, alpha, A, lda,
                  [&](int64_t k0, int64_t kc, int64_t j0, int64_t n, int nr, float* dst) {
                    pack_b(ks, nr, tb, B, ldb, k0, kc, j0, n, dst);
                  },
                  beta, C, ldc);
}

void sgemm_implicit_b(bool ta, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                      const PackPanels& pack_b, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    sgemm(false, false, M, N, 0, alpha, A, lda, nullptr, 0, beta, C, ldc);
    return;
  }
  gemm_dispatch(gemm_detail::active_kernels(), ta, M, N, K, alpha, A, lda, pack_b, beta, C, ldc);
}

}  // namespace fm::cpu
