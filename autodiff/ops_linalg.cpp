// autodiff/ops_linalg.cpp: matrix products. The backward rules call sgemm directly so each
// gradient is accumulated in place (beta = 1) instead of through a temporary.
#include <stdexcept>

#include "autodiff/ops.h"
#include "tensor/cpu/gemm.h"
#include "tensor/cpu/parallel.h"
#include "tensor/profile.h"

namespace fm {

// C = op(A) op(B)
//   dA += dC op(B)^T   (laid out as A: transposed again when trans_a)
//   dB += op(A)^T dC   (laid out as B: transposed again when trans_b)
Var matmul(const Var& a, const Var& b, bool ta, bool tb) {
  FM_PROFILE("matmul");
  Tensor av = a.value(), bv = b.value();
  Tensor c = fm::matmul(av, bv, ta, tb);
  return make_result(c, {a, b}, "matmul", [av, bv, ta, tb](Node& n) {
    const Tensor& g = n.grad;  // [M, N]
    int64_t M = g.dim(0), N = g.dim(1), K = ta ? av.dim(0) : av.dim(1);
    float beta;
    if (needs_grad(n, 0)) {
      Tensor& da = grad_buffer(*n.parents[0], beta);
      if (!ta)  // dA [M, K] = dC [M, N] op(B)^T
        sgemm(false, !tb, M, K, N, 1.0f, g.data(), N, bv.data(), bv.dim(1), beta, da.data(), K);
      else      // dA [K, M] = op(B) [K, N] dC^T
        sgemm(tb, true, K, M, N, 1.0f, bv.data(), bv.dim(1), g.data(), N, beta, da.data(), M);
    }
    if (needs_grad(n, 1)) {
      Tensor& db = grad_buffer(*n.parents[1], beta);
      if (!tb)  // dB [K, N] = op(A)^T dC
        sgemm(!ta, false, K, N, M, 1.0f, av.data(), av.dim(1), g.data(), N, beta, db.data(), N);
      else      // dB [N, K] = dC^T op(A)
        sgemm(true, ta, N, K, M, 1.0f, g.data(), N, av.data(), av.dim(1), beta, db.data(), K);
    }
  });
}

// y = x W^T + b         x [B, in], W [out, in], b [out]
//   dx += dy W          dW += dy^T x          db += sum over the batch of dy
Var linear(const Var& x, const Var& W, const Var& b) {
  FM_PROFILE("linear");
  const Tensor& xv = x.value();
  const Tensor& wv = W.value();
  if (xv.ndim() != 2 || wv.ndim() != 2 || xv.dim(1) != wv.dim(1))
    throw std::runtime_error("linear: input " + shape_str(xv.shape()) + " does not match weight " + shape_str(wv.shape()));
  int64_t B = xv.dim(0), in = xv.dim(1), out = wv.dim(0);
  Tensor y = Tensor::empty({B, out});
  float* py = y.data();
  if (b.defined()) {  // start from the bias, then accumulate x W^T on top (beta = 1)
    const float* pb = b.value().data();
    parallel_for(B, 256, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i)
        for (int64_t j = 0; j < out; ++j) py[i * out + j] = pb[j];
    });
  }
  sgemm(false, true, B, out, in, 1.0f, xv.data(), in, wv.data(), in, b.defined() ? 1.0f : 0.0f, py, out);
  std::vector<Var> parents{x, W};
  if (b.defined()) parents.push_back(b);
  Tensor xs = xv, ws = wv;
  return make_result(y, parents, "linear", [xs, ws, B, in, out](Node& n) {
    const float* g = n.grad.data();
    float beta;
    if (needs_grad(n, 0)) {
      Tensor& dx = grad_buffer(*n.parents[0], beta);
      sgemm(false, false, B, in, out, 1.0f, g, out, ws.data(), in, beta, dx.data(), in);
    }
    if (needs_grad(n, 1)) {
      Tensor& dW = grad_buffer(*n.parents[1], beta);
      sgemm(true, false, out, in, B, 1.0f, g, out, xs.data(), in, beta, dW.data(), in);
    }
    if (n.parents.size() > 2 && needs_grad(n, 2)) accumulate_grad(*n.parents[2], fm::sum(n.grad, 0), true);
  });
}

}  // namespace fm
