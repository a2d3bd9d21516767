// tensor/cpu/linalg.cpp: matmul, batched matmul and linear on host tensors, thin wrappers over
// sgemm (tensor/cpu/gemm.h) whose beta accumulates a gradient in place.
#include <stdexcept>

#include "tensor/cpu/gemm.h"
#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"

namespace fm::cpu {


void matmul_into(const Tensor& a, const Tensor& b, bool ta, bool tb, float beta, Tensor& c) {
  const ProductShape s = product_shape("matmul", a.shape(), b.shape(), ta, tb, false);
  check_grad_shape(&c, {s.M, s.N}, "matmul_into (output)");
  sgemm(ta, tb, s.M, s.N, s.K, 1.0f, a.data(), s.lda, b.data(), s.ldb, beta, c.data(), s.N);
}

Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  const ProductShape s = product_shape("matmul", a.shape(), b.shape(), ta, tb, false);
  Tensor c = Tensor::empty({s.M, s.N});
  sgemm(ta, tb, s.M, s.N, s.K, 1.0f, a.data(), s.lda, b.data(), s.ldb, 0.0f, c.data(), s.N);
  return c;
}

// C_i = op(A_i) op(B_i) (+ beta C_i) for each batch entry i, entries in parallel. Each product is
// computed whole by one sgemm call, so the bits do not depend on the thread count.
void bmm_into(const Tensor& a, const Tensor& b, bool ta, bool tb, float beta, Tensor& c) {
  const ProductShape s = product_shape("bmm", a.shape(), b.shape(), ta, tb, true);
  check_grad_shape(&c, product_out(a.shape(), s), "bmm_into (output)");
  const int64_t sa = s.M * s.K, sb = s.K * s.N, sc = s.M * s.N;  // per-entry strides
  const float *A = a.data(), *B = b.data();
  float* C = c.data();
  parallel_for(s.batch, grain_for(s.M * s.N * s.K), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i)
      sgemm(ta, tb, s.M, s.N, s.K, 1.0f, A + i * sa, s.lda, B + i * sb, s.ldb, beta, C + i * sc, s.N);
  });
}

Tensor bmm(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  const ProductShape s = product_shape("bmm", a.shape(), b.shape(), ta, tb, true);
  Tensor c = Tensor::empty(product_out(a.shape(), s));
  cpu::bmm_into(a, b, ta, tb, 0.0f, c);
  return c;
}

// y = x W^T + b: y starts from the bias rows, then sgemm accumulates x W^T onto it (beta = 1).
Tensor linear(const Tensor& x, const Tensor& W, const Tensor& b) {
  const int64_t B = x.dim(0), in = x.dim(1), out = W.dim(0);
  Tensor y = Tensor::empty({B, out});
  float* py = y.data();
  if (b.defined()) {
    const float* pb = b.data();
    parallel_for(B, grain_for(out), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i)
        for (int64_t j = 0; j < out; ++j) py[i * out + j] = pb[j];
    });
  }
  sgemm(false, true, B, out, in, 1.0f, x.data(), in, W.data(), in, b.defined() ? 1.0f : 0.0f, py, out);
  return y;
}

}  // namespace fm::cpu
