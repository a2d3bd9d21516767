// tensor/cpu/gemm_kernels.h: the per-ISA pieces behind sgemm (internal to tensor/; see gemm.cpp).
//
// Each instruction set provides one KernelSet: a register-blocked micro-kernel with its tile shape
// and cache-block sizes, plus two direct kernels for shapes with a tiny M or N, where packing
// into MR x NR tiles would mostly multiply padding. The set is chosen once at run time.
#pragma once
#include <cstdint>

namespace fm::cpu::gemm_detail {

// C[0:m, 0:n] = alpha * (Ap @ Bp) + beta * C over one MR x NR tile (m <= MR, n <= NR).
// Ap is a packed MR-row panel (Ap[k * MR + r]), Bp a packed NR-column panel (Bp[k * NR + j]),
// both zero-padded to the full tile and 64-byte aligned. beta == 0 never reads C.
using MicroKernel = void (*)(int64_t kc, const float* Ap, const float* Bp, float* C, int64_t ldc,
                             float alpha, float beta, int m, int n);

// Packs a block of `rows` rows by kc into ceil(rows / width) consecutive micro-panels of the
// given width (MR or NR): dst[p * width * kc + k * width + r - p * width] = src(r, k), zero-padded
// to a whole panel. src(r, k) is src[k * ld + r] when k_major (each k a contiguous run across all
// panels, e.g. a row of a non-transposed B), else src[r * ld + k] (packing transposes it).
using PackBlock = void (*)(bool k_major, const float* src, int64_t ld, int64_t rows, int64_t kc,
                           int width, float* dst);

// The small-shape problem: out(l, s) = sum_k P(l, k) * Q(s, k) for l < L, s < S (S tiny), stored
// as C[l * rs + s * cs] = alpha * out + beta * C[...].
struct SmallGemm {
  int64_t L, S, K;
  const float* P;  // "dot" form: P(l, k) = P[l * ldp + k];  "axpy" form: P(l, k) = P[k * ldp + l]
  int64_t ldp;
  const float* Q;  // packed: "dot" form Q[s * K + k];  "axpy" form Q[k * S + s]
  float alpha, beta;
  float* C;
  int64_t rs, cs;
};
// Each computes the rows l in [l0, l1); the results do not depend on how [0, L) is split.
using SmallKernel = void (*)(const SmallGemm& g, int64_t l0, int64_t l1);

// One register tile: MR rows of C by NR columns, its micro-kernel, the rows of A per packed
// block (mc, sized for the L2), and its speed relative to the set's first tile at large shapes.
struct Tile {
  int mr, nr;
  int64_t mc;
  MicroKernel micro;
  double speed;
};

struct KernelSet {
  const char* name;
  Tile tiles[3];  // tiles[0] is the fastest on large shapes; the others suit small M or N
  int ntiles;
  int64_t kc, nc;  // cache blocks: K depth, columns of B
  PackBlock pack;
  SmallKernel dot;   // P contiguous along k
  SmallKernel axpy;  // P contiguous along l
};

// The portable set (gemm_kernels.cpp); the x86 ones, kAvx512 and kAvx2, are in x86_kernels.h.
extern const KernelSet kPortable;

// The portable PackBlock (gemm_kernels.cpp), also the AVX2 set's.
void pack_generic(bool k_major, const float* src, int64_t ld, int64_t rows, int64_t kc, int width, float* dst);

// The set sgemm uses: the best the CPU supports, or FM_GEMM_KERNEL=portable|avx2|avx512.
const KernelSet& active_kernels();
// Whether that set is the AVX-512 one (the CPU has it, and neither a test nor FM_GEMM_KERNEL chose
// another): the switch that every hand-written AVX-512 kernel outside sgemm follows too (the
// direct and Winograd convolutions, the GroupNorm + SiLU loops), so that forcing a set forces all.
bool avx512_active();
// The tile sgemm uses for an M x N product: the one that wastes the least time on padding,
// i.e. with the smallest padded area ceil(M / MR) MR x ceil(N / NR) NR over its speed.
const Tile& tile_for(const KernelSet& ks, int64_t M, int64_t N);
// Test hook: use tiles[index] whatever the shape (-1: back to tile_for's choice).
void force_tile(int index);

// Test hook: force a set by name (nullptr = automatic). Returns false (and changes nothing) if the
// name is unknown or the CPU lacks that instruction set.
bool force_kernels(const char* name);

}  // namespace fm::cpu::gemm_detail
