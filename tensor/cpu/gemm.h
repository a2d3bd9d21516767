// tensor/cpu/gemm.h: single-precision matrix multiply, the kernel that dominates training time.
//
//   C[M, N] = alpha * op(A) @ op(B) + beta * C        (row-major; op(X) = X or X^T)
//
// A is M x K (or K x M when trans_a), B is K x N (or N x K when trans_b); lda, ldb, ldc are the
// row strides in elements. beta = 0 means C is write-only (its old contents may be NaN).
// Results do not depend on the number of threads.
#pragma once
#include <cstdint>
#include <functional>

namespace fm::cpu {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// An implicit B: C = alpha * op(A) @ B + beta * C where B [K, N] is never stored. Instead
// pack_b(k0, kc, j0, n, nr, dst) writes B[k0:k0+kc, j0:j0+n] as ceil(n / nr) micro-panels of nr
// columns, dst[q * nr * kc + k * nr + j] = B[k0 + k, j0 + q * nr + j], zero-padded to whole
// panels (j0 is a multiple of nr). A convolution packs its im2col matrix this way, straight from
// the image. Several threads may call pack_b at once, for disjoint column ranges.
using PackPanels = std::function<void(int64_t k0, int64_t kc, int64_t j0, int64_t n, int nr, float* dst)>;
void sgemm_implicit_b(bool trans_a, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                      const PackPanels& pack_b, float beta, float* C, int64_t ldc);

// The readable reference: a plain triple loop with double accumulation, for the tests.
void sgemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                     const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                     int64_t ldc);

// Which micro-kernel the run-time CPU detection picked: "avx512", "avx2" or "portable".
const char* sgemm_kernel_name();

}  // namespace fm::cpu
