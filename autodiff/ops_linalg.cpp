// autodiff/ops_linalg.cpp: matrix products. The backward rules hand the parents' grad buffers to
// matmul_into (grad_buffer's beta), so each gradient accumulates in place instead of through a
// temporary.
#include "autodiff/ops.h"
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
    float beta;
    if (needs_grad(n, 0)) {
      Tensor& da = grad_buffer(*n.parents[0], beta);
      if (!ta) matmul_into(g, bv, false, !tb, beta, da);  // dA [M, K] = dC [M, N] op(B)^T
      else matmul_into(bv, g, tb, true, beta, da);        // dA [K, M] = op(B) [K, N] dC^T
    }
    if (needs_grad(n, 1)) {
      Tensor& db = grad_buffer(*n.parents[1], beta);
      if (!tb) matmul_into(av, g, !ta, false, beta, db);  // dB [K, N] = op(A)^T dC
      else matmul_into(g, av, true, ta, beta, db);        // dB [N, K] = dC^T op(A)
    }
  });
}

// y = x W^T + b         x [B, in], W [out, in], b [out]
//   dx += dy W          dW += dy^T x          db += sum over the batch of dy
Var linear(const Var& x, const Var& W, const Var& b) {
  FM_PROFILE("linear");
  Tensor xs = x.value(), ws = W.value();
  Tensor y = fm::linear(xs, ws, b.defined() ? b.value() : Tensor());
  std::vector<Var> parents{x, W};
  if (b.defined()) parents.push_back(b);
  return make_result(y, parents, "linear", [xs, ws](Node& n) {
    float beta;
    if (needs_grad(n, 0)) {
      Tensor& dx = grad_buffer(*n.parents[0], beta);
      matmul_into(n.grad, ws, false, false, beta, dx);
    }
    if (needs_grad(n, 1)) {
      Tensor& dW = grad_buffer(*n.parents[1], beta);
      matmul_into(n.grad, xs, true, false, beta, dW);
    }
    if (n.parents.size() > 2 && needs_grad(n, 2)) accumulate_grad(*n.parents[2], fm::sum(n.grad, 0), true);
  });
}

}  // namespace fm
