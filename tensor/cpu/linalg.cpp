// tensor/cpu/linalg.cpp: matmul and batched matmul on tensors, both thin wrappers over sgemm.
#include <stdexcept>

#include "tensor/cpu/gemm.h"
#include "tensor/ops.h"

namespace fm {

Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  if (a.ndim() != 2 || b.ndim() != 2)
    throw std::runtime_error("matmul: expected 2-D tensors, got " + shape_str(a.shape()) + " and " + shape_str(b.shape()));
  int64_t M = ta ? a.dim(1) : a.dim(0), K = ta ? a.dim(0) : a.dim(1);
  int64_t Kb = tb ? b.dim(1) : b.dim(0), N = tb ? b.dim(0) : b.dim(1);
  if (K != Kb) throw std::runtime_error("matmul: inner dimensions differ, " + shape_str(a.shape()) + " @ " + shape_str(b.shape()));
  Tensor c = Tensor::empty({M, N});
  sgemm(ta, tb, M, N, K, 1.0f, a.data(), a.dim(1), b.data(), b.dim(1), 0.0f, c.data(), N);
  return c;
}

Tensor bmm(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  if (a.ndim() < 3 || a.ndim() != b.ndim())
    throw std::runtime_error("bmm: expected matching batched shapes, got " + shape_str(a.shape()) + " and " + shape_str(b.shape()));
  int64_t batch = 1;
  for (int d = 0; d < a.ndim() - 2; ++d) {
    if (a.dim(d) != b.dim(d)) throw std::runtime_error("bmm: batch dimensions differ");
    batch *= a.dim(d);
  }
  int64_t ar = a.dim(-2), ac = a.dim(-1), br = b.dim(-2), bc = b.dim(-1);
  int64_t M = ta ? ac : ar, K = ta ? ar : ac, N = tb ? br : bc;
  if ((tb ? bc : br) != K) throw std::runtime_error("bmm: inner dimensions differ");
  Shape os(a.shape().begin(), a.shape().end() - 2);
  os.push_back(M);
  os.push_back(N);
  Tensor c = Tensor::empty(os);
  for (int64_t i = 0; i < batch; ++i)
    sgemm(ta, tb, M, N, K, 1.0f, a.data() + i * ar * ac, ac, b.data() + i * br * bc, bc, 0.0f,
          c.data() + i * M * N, N);
  return c;
}

}  // namespace fm
