// tensor/gemm.cpp: PLACEHOLDER simple blocked sgemm; replaced by the packed micro-kernel version.
#include "tensor/gemm.h"

#include <vector>

#include "tensor/parallel.h"

namespace fm {

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

void sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  parallel_for(M, 4, [&](int64_t lo, int64_t hi) {
    std::vector<float> brow(N);
    for (int64_t i = lo; i < hi; ++i) {
      float* c = C + i * ldc;
      for (int64_t j = 0; j < N; ++j) c[j] = beta == 0.0f ? 0.0f : beta * c[j];
      for (int64_t k = 0; k < K; ++k) {
        float a = alpha * (ta ? A[k * lda + i] : A[i * lda + k]);
        if (tb) {
          for (int64_t j = 0; j < N; ++j) c[j] += a * B[j * ldb + k];
        } else {
          const float* b = B + k * ldb;
          for (int64_t j = 0; j < N; ++j) c[j] += a * b[j];
        }
      }
    }
  });
}

const char* sgemm_kernel_name() { return "portable"; }

}  // namespace fm
