// cuda/linalg.cu: matmul, batched matmul and linear through cuBLAS (fp32, no TF32: see blas()).
//
// cuBLAS is column-major; a row-major matrix is its transpose seen column-major. So the row-major
// C [M, N] = op(A) op(B) is computed as the column-major C^T = op(B)^T op(A)^T: cublasSgemm with
// the operands swapped, (N, M, K), and the row-major leading dimensions (each tensor's last dim).
#include <stdexcept>
#include <string>

#include "cuda/common.cuh"
#include "cuda/kernels.h"

namespace fm::cuda {

namespace {

int as_int(int64_t v, const char* what) {
  if (v > 2147483647) throw std::runtime_error(std::string(what) + ": dimension too large for cuBLAS");
  return int(v);
}

void gemm(const ProductShape& s, bool ta, bool tb, const float* A, const float* B, float beta, float* C) {
  if (s.M == 0 || s.N == 0) return;
  const float alpha = 1.0f;
  const cublasOperation_t opA = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opB = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int M = as_int(s.M, "matmul"), N = as_int(s.N, "matmul"), K = as_int(s.K, "matmul");
  const int lda = as_int(s.lda, "matmul"), ldb = as_int(s.ldb, "matmul");
  if (s.K == 0) {  // an empty sum: C = beta C
    if (beta == 0.0f) check(cudaMemsetAsync(C, 0, size_t(s.batch * s.M * s.N) * sizeof(float), stream()), "cudaMemsetAsync");
    return;
  }
  if (s.batch == 1)
    check_blas(blas_api().sgemm(blas(), opB, opA, N, M, K, &alpha, B, ldb, A, lda, &beta, C, N), "cublasSgemm");
  else
    check_blas(blas_api().sgemm_strided_batched(blas(), opB, opA, N, M, K, &alpha, B, ldb, s.K * s.N, A, lda, s.M * s.K, &beta,
                                         C, N, s.M * s.N, as_int(s.batch, "bmm")),
               "cublasSgemmStridedBatched");
  count_launch();
}

// y[i, j] = b[j]: the rows that linear's product accumulates onto.
__global__ void bias_rows_kernel(const float* b, float* y, int64_t out, int64_t n) { FM_CUDA_LOOP(w, n) y[w] = b[w % out]; }

}  // namespace

void matmul_into(const Tensor& a, const Tensor& b, bool ta, bool tb, float beta, Tensor& c) {
  const ProductShape s = product_shape("matmul", a.shape(), b.shape(), ta, tb, false);
  check_grad_shape(&c, {s.M, s.N}, "matmul_into (output)");
  gemm(s, ta, tb, ptr(a), ptr(b), beta, ptr(c));
}

Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  const ProductShape s = product_shape("matmul", a.shape(), b.shape(), ta, tb, false);
  Tensor c = Tensor::empty({s.M, s.N}, Device::CUDA);
  gemm(s, ta, tb, ptr(a), ptr(b), 0.0f, ptr(c));
  return c;
}

void bmm_into(const Tensor& a, const Tensor& b, bool ta, bool tb, float beta, Tensor& c) {
  const ProductShape s = product_shape("bmm", a.shape(), b.shape(), ta, tb, true);
  check_grad_shape(&c, product_out(a.shape(), s), "bmm_into (output)");
  gemm(s, ta, tb, ptr(a), ptr(b), beta, ptr(c));
}

Tensor bmm(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  const ProductShape s = product_shape("bmm", a.shape(), b.shape(), ta, tb, true);
  Tensor c = Tensor::empty(product_out(a.shape(), s), Device::CUDA);
  gemm(s, ta, tb, ptr(a), ptr(b), 0.0f, ptr(c));
  return c;
}

Tensor linear(const Tensor& x, const Tensor& W, const Tensor& b) {
  Tensor y = Tensor::empty({x.dim(0), W.dim(0)}, Device::CUDA);
  if (b.defined() && y.numel()) {
    FM_LAUNCH(bias_rows_kernel, grid_for(y.numel()), kThreads, 0, stream())(ptr(b), ptr(y), W.dim(0), y.numel());
    launched("linear bias");
  }
  cuda::matmul_into(x, W, false, true, b.defined() ? 1.0f : 0.0f, y);
  return y;
}

}  // namespace fm::cuda
