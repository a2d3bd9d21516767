// cuda/emulation/cublas.cpp: cuBLAS's GEMMs as a plain reference (see include/cublas_v2.h): each
// column of C is accumulated in double over k in order, then C = alpha acc + beta C (C unread when
// beta = 0, as cuBLAS), queued on the handle's stream. The arguments are checked at the call as
// cuBLAS checks them, and each matrix must lie inside one device allocation.
#include <cublas_v2.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "cuda/emulation/runtime.h"
#include "tensor/cpu/thread_pool.h"

struct cublasContext {
  cudaStream_t stream = nullptr;
};

namespace fm_emu {

namespace {

// Column-major C [m, n] = alpha op(A) op(B) + beta C for one matrix of the batch.
void gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* A, int lda, const float* B, int ldb, float beta,
          float* C, int ldc) {
  // op(A)(i, p) = A[i * a_i + p * a_p], op(B)(p, j) = B[p * b_p + j * b_j]
  const int64_t a_i = ta ? lda : 1, a_p = ta ? 1 : lda, b_p = tb ? ldb : 1, b_j = tb ? 1 : ldb;
  auto column = [&](int64_t j) {
    std::vector<double> acc(size_t(m), 0.0);
    for (int p = 0; p < k; ++p) {
      const double b = B[p * b_p + j * b_j];
      for (int i = 0; i < m; ++i) acc[size_t(i)] += double(A[i * a_i + p * a_p]) * b;
    }
    float* c = C + j * ldc;
    for (int i = 0; i < m; ++i) c[i] = float(alpha * acc[size_t(i)] + (beta == 0.0f ? 0.0 : double(beta) * c[i]));
  };
  if (int64_t(m) * n * k > (int64_t(1) << 22))
    fm::run_tasks(n, column);
  else
    for (int j = 0; j < n; ++j) column(j);
}

// The elements a stored rows x cols matrix with leading dimension ld spans.
size_t span(int rows, int cols, int ld) { return rows == 0 || cols == 0 ? 0 : size_t(ld) * size_t(cols - 1) + size_t(rows); }

bool inside_device(const char* what, const float* p, int rows, int cols, int ld, long long stride, int batch) {
  const size_t n = span(rows, cols, ld) * sizeof(float);
  if (n == 0) return true;
  if (is_device_range(p, n) && is_device_range(p + stride * (batch - 1), n)) return true;
  report(std::string("cublasSgemm: matrix ") + what + " (" + std::to_string(rows) + "x" + std::to_string(cols) +
         ", leading dimension " + std::to_string(ld) + ") is not inside one device allocation");
  return false;
}

cublasStatus_t gemm_batched(cublasHandle_t h, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
                            const float* alpha, const float* A, int lda, long long sa, const float* B, int ldb,
                            long long sb, const float* beta, float* C, int ldc, long long sc, int batch) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  auto op_ok = [](cublasOperation_t op) { return op == CUBLAS_OP_N || op == CUBLAS_OP_T || op == CUBLAS_OP_C; };
  const bool ta = transa != CUBLAS_OP_N, tb = transb != CUBLAS_OP_N;
  const int a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
  if (!op_ok(transa) || !op_ok(transb) || m < 0 || n < 0 || k < 0 || batch < 0 || lda < std::max(1, a_rows) ||
      ldb < std::max(1, b_rows) || ldc < std::max(1, m)) {
    report("cublasSgemm: invalid arguments (m " + std::to_string(m) + ", n " + std::to_string(n) + ", k " +
           std::to_string(k) + ", lda " + std::to_string(lda) + ", ldb " + std::to_string(ldb) + ", ldc " +
           std::to_string(ldc) + ")");
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (m == 0 || n == 0 || batch == 0) return CUBLAS_STATUS_SUCCESS;
  if (!inside_device("C", C, m, n, ldc, sc, batch) || (k > 0 && (!inside_device("A", A, a_rows, a_cols, lda, sa, batch) ||
                                                                 !inside_device("B", B, b_rows, b_cols, ldb, sb, batch))))
    return CUBLAS_STATUS_INVALID_VALUE;
  const float al = *alpha, be = *beta;  // host scalars, read at the call
  const cudaError_t e = enqueue(h->stream, [=] {
    for (int i = 0; i < batch; ++i) gemm(ta, tb, m, n, k, al, A + i * sa, lda, B + i * sb, ldb, be, C + i * sc, ldc);
  });
  return e == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}

}  // namespace

void* cublas_symbol(const char* name) {
  static const Symbol table[] = {
      {"cublasCreate_v2", reinterpret_cast<void*>(&cublasCreate_v2)},
      {"cublasDestroy_v2", reinterpret_cast<void*>(&cublasDestroy_v2)},
      {"cublasSetStream_v2", reinterpret_cast<void*>(&cublasSetStream_v2)},
      {"cublasSetMathMode", reinterpret_cast<void*>(&cublasSetMathMode)},
      {"cublasSetAtomicsMode", reinterpret_cast<void*>(&cublasSetAtomicsMode)},
      {"cublasSgemm_v2", reinterpret_cast<void*>(&cublasSgemm_v2)},
      {"cublasSgemmStridedBatched", reinterpret_cast<void*>(&cublasSgemmStridedBatched)},
  };
  return find_symbol(table, name);
}

}  // namespace fm_emu

cublasStatus_t cublasCreate_v2(cublasHandle_t* handle) {
  *handle = new cublasContext;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t handle) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream) {
  if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}

// The emulation computes in full precision whatever the mode (no TF32, no atomics).
cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t) {
  return handle ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED;
}
cublasStatus_t cublasSetAtomicsMode(cublasHandle_t handle, cublasAtomicsMode_t) {
  return handle ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t cublasSgemm_v2(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                              int k, const float* alpha, const float* A, int lda, const float* B, int ldb,
                              const float* beta, float* C, int ldc) {
  return fm_emu::gemm_batched(handle, transa, transb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m,
                                         int n, int k, const float* alpha, const float* A, int lda, long long strideA,
                                         const float* B, int ldb, long long strideB, const float* beta, float* C, int ldc,
                                         long long strideC, int batchCount) {
  return fm_emu::gemm_batched(handle, transa, transb, m, n, k, alpha, A, lda, strideA, B, ldb, strideB, beta, C, ldc,
                              strideC, batchCount);
}
