// tests/test_unet.cpp: the U-Net vector field: parameter counts, shapes, gradients, learning,
// and exact vs Hutchinson divergence on a tiny instance.
#include <doctest/doctest.h>

#include <cmath>

#include "autodiff/gradcheck.h"
#include "autodiff/ops.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "nn/unet.h"
#include "flow/trainer.h"
#include "tensor/allocator.h"
#include "ode/likelihood.h"
#include "tests/test_util.h"

using namespace fm;

using fm::testing::tiny_unet_config;

TEST_SUITE("cpu") {

TEST_CASE("the default U-Net has 1,623,169 parameters and 408,641 with 16 channels") {
  Rng rng(0);
  UNetConfig c;
  CHECK(UNetField(c, rng).num_parameters() == 1623169);
  c.channels = 16;
  CHECK(UNetField(c, rng).num_parameters() == 408641);
}

TEST_CASE("U-Net output has the input's shape, and its config round-trips through JSON") {
  Rng rng(1);
  UNetConfig c;
  c.channels = 16;
  UNetField net(c, rng);
  Tensor x = Tensor::empty({2, 1, 28, 28});
  rng.normal(x);
  NoGradGuard ng;
  Var y = net.forward(Var(x), Tensor::from({0.2f, 0.9f}, {2}));
  CHECK(y.shape() == Shape{2, 1, 28, 28});
  UNetConfig back = unet_config_from_json(net.config());
  CHECK(back.mult == c.mult);
  CHECK(back.attn_res == c.attn_res);
  CHECK(back.channels == 16);
  std::unique_ptr<FieldModel> again = make_model(parse_json(to_json(net.config())), rng);
  CHECK(again->num_parameters() == 408641);
  CHECK(model_sample_shape(net.config()) == Shape{1, 28, 28});
  CHECK_THROWS(net.forward(Var(Tensor::zeros({2, 1, 27, 28})), Tensor::zeros({2})));
}

TEST_CASE("U-Net gradients w.r.t. input and parameters match finite differences") {
  Rng rng(2);
  UNetField net(tiny_unet_config(), rng);
  Var x(Tensor::empty({2, 1, 8, 8}), true);
  rng.normal(x.value());
  Tensor t = Tensor::from({0.3f, 0.7f}, {2});
  std::vector<Var> leaves{x};
  for (const Param& p : net.parameters()) leaves.push_back(p.var);
  GradCheckOptions opt;
  opt.max_checks = 3;  // a few elements of each of the ~70 tensors
  GradCheckResult r = check_gradients([&]() { return net.forward(x, t); }, leaves, opt);
  INFO(r.report);
  CHECK(r.ok);
}

TEST_CASE("a tiny U-Net overfits one batch") {
  Rng rng(3);
  UNetField net(tiny_unet_config(), rng);
  std::vector<Param> ps = net.parameters();
  Adam adam(ps, AdamOptions{});
  Tensor x = Tensor::empty({4, 1, 8, 8}), target = Tensor::empty({4, 1, 8, 8});
  rng.normal(x);
  rng.normal(target);
  Tensor t = Tensor::from({0.1f, 0.4f, 0.6f, 0.9f}, {4});
  double first = 0, last = 0;
  for (int step = 0; step < 150; ++step) {
    Var loss = mse_loss(net.forward(Var(x), t), target);
    if (step == 0) first = loss.value().item();
    last = loss.value().item();
    zero_grad(ps);
    backward(loss);
    adam.step(3e-3);
  }
  INFO("loss " << first << " -> " << last);
  CHECK(last < 0.1 * first);
}

TEST_CASE("exact and Hutchinson divergence agree on a tiny U-Net") {
  Rng rng(4);
  UNetField net(tiny_unet_config(), rng);
  Tensor x1 = Tensor::empty({48, 1, 8, 8});
  rng.normal(x1);
  FieldFn v = [&](const Var& x, const Tensor& t) { return net.forward(x, t); };
  FlowSolveOptions exact;
  exact.ode.method = Method::RK4;  // fixed steps: both estimates see the same trajectory grid
  exact.ode.steps = 4;
  FlowSolveOptions hutch = exact;
  hutch.divergence = Divergence::Hutchinson;
  hutch.probes = 4;
  Rng r1(5), r2(6);
  std::vector<double> a = log_likelihood(v, x1, exact, r1).logp, b = log_likelihood(v, x1, hutch, r2).logp;
  std::vector<double> diff(a.size());
  for (size_t i = 0; i < a.size(); ++i) diff[i] = b[i] - a[i];
  MeanStderr m = mean_stderr(diff);
  INFO("hutchinson - exact: " << m.mean << " +- " << m.stderr_);
  CHECK(std::fabs(m.mean) < 4.0 * m.stderr_ + 1e-3);
  CHECK(m.stderr_ > 0.0);
}

TEST_CASE("U-Net training steps and likelihood evaluations in the steady state take no new memory") {
  // Every activation and gradient buffer of a step is served by the allocator's cache of blocks
  // that the previous step released (tensor/allocator.h).
  Rng rng(5);
  UNetConfig c = tiny_unet_config();
  UNetField model(c, rng);
  Tensor pixels = Tensor::empty({16, c.in_channels, c.height, c.width});
  rng.uniform(pixels, -1, 1);
  std::unique_ptr<Dataset> data = tensor_dataset("pixels", pixels);
  CondOTPath path;
  TrainOptions opt;
  opt.batch = 8;
  Trainer trainer(model, path, *data, opt);
  trainer.step();
  trainer.step();
  int64_t allocs = allocator_stats().system_allocs;
  for (int i = 0; i < 3; ++i) trainer.step();
  CHECK(allocator_stats().system_allocs == allocs);
  // The same for likelihood evaluations (forward + one VJP per step of the ODE).
  FlowSolveOptions solve;
  solve.ode.method = Method::RK4;
  solve.ode.steps = 2;
  solve.divergence = Divergence::Hutchinson;
  FieldFn field = [&](const Var& x, const Tensor& t) { return model.forward(x, t); };
  Tensor x = pixels.rows(0, 8);
  log_likelihood(field, x, solve, rng);
  allocs = allocator_stats().system_allocs;
  log_likelihood(field, x, solve, rng);
  CHECK(allocator_stats().system_allocs == allocs);
}

}  // TEST_SUITE
