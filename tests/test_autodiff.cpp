// tests/test_autodiff.cpp: every differentiable op against finite differences, and the graph
// mechanics (accumulation, no-grad, vjp, freeing).
#include <doctest/doctest.h>

#include <cmath>

#include "autodiff/gradcheck.h"
#include "autodiff/ops.h"
#include "tensor/random.h"
#include "tests/test_util.h"

using namespace fm;
using fm::testing::expect_grads_ok;
using fm::testing::randu;

TEST_SUITE("cpu") {

TEST_CASE("binary ops with broadcasting match finite differences") {
  Tensor a = randu({3, 4}, 1), b_row = randu({4}, 2), b_col = randu({3, 1}, 3), b_same = randu({3, 4}, 4);
  Tensor pos = randu({3, 4}, 5, 0.5f, 2.0f);
  for (const Tensor& b : {b_row, b_col, b_same}) {
    expect_grads_ok([](const std::vector<Var>& v) { return add(v[0], v[1]); }, {a, b});
    expect_grads_ok([](const std::vector<Var>& v) { return sub(v[0], v[1]); }, {a, b});
    expect_grads_ok([](const std::vector<Var>& v) { return mul(v[0], v[1]); }, {a, b});
  }
  expect_grads_ok([](const std::vector<Var>& v) { return div(v[0], v[1]); }, {a, pos});
  expect_grads_ok([](const std::vector<Var>& v) { return div(v[0], v[1]); }, {a, Tensor::full({4}, 1.5f)});
  expect_grads_ok([](const std::vector<Var>& v) { return scale(v[0], -2.5f); }, {a});
  expect_grads_ok([](const std::vector<Var>& v) { return add_scalar(v[0], 3.0f); }, {a});
}

TEST_CASE("unary ops match finite differences") {
  Tensor x = randu({5, 7}, 11, -2.0f, 2.0f), pos = randu({5, 7}, 12, 0.3f, 3.0f);
  for (UnaryOp op : {UnaryOp::Neg, UnaryOp::Exp, UnaryOp::Square, UnaryOp::Tanh, UnaryOp::Sigmoid, UnaryOp::Silu}) {
    INFO(unary_name(op));
    expect_grads_ok([op](const std::vector<Var>& v) { return unary(op, v[0]); }, {x});
  }
  for (UnaryOp op : {UnaryOp::Log, UnaryOp::Sqrt, UnaryOp::Abs}) {
    INFO(unary_name(op));
    expect_grads_ok([op](const std::vector<Var>& v) { return unary(op, v[0]); }, {pos});
  }
}

TEST_CASE("reductions and the MSE loss match finite differences") {
  Tensor x = randu({4, 3, 5}, 21), t = randu({4, 3, 5}, 22);
  expect_grads_ok([](const std::vector<Var>& v) { return sum(v[0]); }, {x});
  expect_grads_ok([](const std::vector<Var>& v) { return mean(v[0]); }, {x});
  for (int axis : {0, 1, 2, -1}) {
    expect_grads_ok([axis](const std::vector<Var>& v) { return sum(v[0], axis, false); }, {x});
    expect_grads_ok([axis](const std::vector<Var>& v) { return sum(v[0], axis, true); }, {x});
  }
  expect_grads_ok([t](const std::vector<Var>& v) { return mse_loss(v[0], t); }, {x});
}

TEST_CASE("matmul in all transpose combinations and linear match finite differences") {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Tensor a = ta ? randu({4, 3}, 31) : randu({3, 4}, 31);
      Tensor b = tb ? randu({5, 4}, 32) : randu({4, 5}, 32);
      expect_grads_ok([ta, tb](const std::vector<Var>& v) { return matmul(v[0], v[1], ta, tb); }, {a, b});
    }
  Tensor x = randu({6, 4}, 33), W = randu({3, 4}, 34), b = randu({3}, 35);
  expect_grads_ok([](const std::vector<Var>& v) { return linear(v[0], v[1], v[2]); }, {x, W, b});
  expect_grads_ok([](const std::vector<Var>& v) { return linear(v[0], v[1], Var()); }, {x, W});
}

TEST_CASE("shape ops match finite differences") {
  Tensor a = randu({2, 3, 4}, 41), b = randu({2, 2, 4}, 42);
  expect_grads_ok([](const std::vector<Var>& v) { return reshape(v[0], {6, 4}); }, {a});
  expect_grads_ok([](const std::vector<Var>& v) { return concat({v[0], v[1]}, 1); }, {a, b});
  expect_grads_ok([](const std::vector<Var>& v) { return slice(v[0], 2, 1, 3); }, {a});
  // Composite: a small MLP layer stack through concat, as the vector field uses it.
  Tensor x = randu({5, 2}, 43), t = randu({5, 1}, 44), W = randu({4, 3}, 45), bias = randu({4}, 46);
  expect_grads_ok([](const std::vector<Var>& v) {
    return silu(linear(concat({v[0], v[1]}, 1), v[2], v[3]));
  }, {x, t, W, bias});
}

TEST_CASE("gradcheck detects a wrong backward rule") {
  // A deliberately wrong op: forward x^2, backward claims 3x. The checker must reject it.
  GradFn bad = [](const std::vector<Var>& v) {
    Tensor xv = v[0].value();
    return make_result(fm::mul(xv, xv), {v[0]}, "bad_square", [xv](Node& n) {
      accumulate_grad(*n.parents[0], fm::scale(fm::mul(n.grad, xv), 3.0f), true);
    });
  };
  CHECK_FALSE(check_gradients(bad, {randu({4}, 51)}).ok);
}

TEST_CASE("gradients accumulate into leaves and the graph is freed after backward") {
  Var x = Var::param(Tensor::from({1.0f, 2.0f}, {2}));
  Var y = sum(square(x));  // dy/dx = 2x
  backward(y);
  CHECK(x.grad().data()[1] == doctest::Approx(4.0));
  CHECK(y.node()->parents.empty());  // interior freed
  backward(sum(square(x)));
  CHECK(x.grad().data()[1] == doctest::Approx(8.0));  // accumulated
}

TEST_CASE("a gradient passed on without a copy is never changed behind its owners' backs") {
  // add() hands its own gradient to both parents (no copy). Each leaf must still end up with a
  // private gradient, and a node that borrowed one must not be written in place when a second
  // contribution arrives, here matmul's backward accumulating into x with beta = 1.
  const Tensor G = Tensor::from({1, 10, 100, 1000}, {2, 2});
  Var a = Var::param(Tensor::full({2, 2}, 1.0f)), b = Var::param(Tensor::full({2, 2}, 2.0f));
  Var x = Var::param(Tensor::from({1, 2, 3, 4}, {2, 2}));
  // (matmul first: the reverse pass reaches it last, after x has borrowed dz)
  Var z = add(matmul(x, x), add(add(a, b), x));  // a, b and x all borrow dz
  backward(sum(mul(z, Var(G))));                  // dz = G
  REQUIRE(a.grad().defined());
  CHECK_FALSE(a.grad().shares_storage(b.grad()));
  scale_(a.node()->grad, 0.0f);  // clipping or zeroing one leaf leaves the others alone
  const float* gx = x.grad().data();
  const float* xv = x.value().data();
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 2; ++j) {
      CHECK(b.grad().data()[i * 2 + j] == G.data()[i * 2 + j]);
      // d/dx sum(G * (x + x x)) = G + G x^T + x^T G
      double want = G.data()[i * 2 + j];
      for (int64_t k = 0; k < 2; ++k) want += G.data()[i * 2 + k] * xv[j * 2 + k] + xv[k * 2 + i] * G.data()[k * 2 + j];
      CHECK(gx[i * 2 + j] == doctest::Approx(want));
    }
}

TEST_CASE("no-grad guard records nothing") {
  Var x = Var::param(Tensor::from({1.0f}, {1}));
  NoGradGuard guard;
  Var y = square(x);
  CHECK_FALSE(y.requires_grad());
  CHECK(y.node()->parents.empty());
}

TEST_CASE("vjp returns v^T J and leaves parameter gradients untouched") {
  // y = W x (per row: y_b = W x_b); v^T dy/dx = v W.
  Tensor Wt = randu({3, 2}, 61);
  Var W = Var::param(Wt);
  Var x = Var(randu({4, 2}, 62), true);
  Var y = linear(x, W, Var());
  Tensor v = randu({4, 3}, 63);
  std::vector<Tensor> g = vjp(y, {x}, v, /*retain_graph=*/true);
  Tensor expect = matmul(v, Wt);
  for (int64_t i = 0; i < expect.numel(); ++i) CHECK(g[0].data()[i] == doctest::Approx(expect.data()[i]).epsilon(1e-5));
  CHECK_FALSE(W.grad().defined());
  CHECK_FALSE(x.grad().defined());
  // A second VJP on the retained graph gives the same answer (no stale accumulation).
  std::vector<Tensor> g2 = vjp(y, {x}, v);
  for (int64_t i = 0; i < expect.numel(); ++i) CHECK(g2[0].data()[i] == g[0].data()[i]);
}

}  // TEST_SUITE
