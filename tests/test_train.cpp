// tests/test_train.cpp: training end to end on small problems whose answer is known.
#include <doctest/doctest.h>

#include <cmath>

#include "flow/trainer.h"
#include "nn/mlp.h"
#include "ode/likelihood.h"

using namespace fm;

namespace {

// x = mu + L z with L lower-triangular: covariance Sigma = L L^T.
const float kMu[2] = {1.5f, -0.5f};
const float kL[2][2] = {{0.8f, 0.0f}, {0.5f, 0.4f}};

Tensor correlated_gaussian(int64_t n, uint64_t seed) {
  Tensor z = Tensor::empty({n, 2}), x = Tensor::empty({n, 2});
  Rng(seed).normal(z);
  for (int64_t i = 0; i < n; ++i)
    for (int r = 0; r < 2; ++r)
      x.data()[2 * i + r] = kMu[r] + kL[r][0] * z.data()[2 * i] + kL[r][1] * z.data()[2 * i + 1];
  return x;
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("training decreases the flow-matching loss") {
  Rng init(1);
  MlpField model(2, 64, 3, init);
  CondOTPath path;
  std::unique_ptr<Dataset> data = open_dataset("8gaussians");
  TrainOptions opt;
  opt.steps = 400;
  opt.batch = 256;
  opt.lr = 3e-3;
  opt.warmup = 20;
  Trainer trainer(model, path, *data, opt);
  double first = 0, last = 0;
  for (int64_t s = 0; s < opt.steps; ++s) {
    double loss = trainer.step().loss;
    if (s < 50) first += loss / 50;
    if (s >= opt.steps - 50) last += loss / 50;
  }
  INFO("mean loss, first 50 steps " << first << ", last 50 " << last);
  CHECK(last < 0.85 * first);
}

TEST_CASE("samples of a trained flow reproduce the mean and covariance of a Gaussian") {
  Rng init(2);
  MlpField model(2, 64, 3, init);
  CondOTPath path;
  std::unique_ptr<Dataset> data = tensor_dataset("gaussian", correlated_gaussian(20000, 3));
  TrainOptions opt;
  opt.steps = 1500;
  opt.batch = 256;
  opt.lr = 3e-3;
  opt.warmup = 50;
  opt.seed = 4;
  Trainer trainer(model, path, *data, opt);
  for (int64_t s = 0; s < opt.steps; ++s) trainer.step();
  trainer.use_eval_weights();

  Tensor x0 = Tensor::empty({8000, 2});
  Rng rng(5);
  rng.normal(x0);
  FlowSolveOptions sopt;
  Tensor xs = sample_flow([&](const Var& x, const Tensor& t) { return model.forward(x, t); }, x0, sopt, rng, false).x;
  double m[2] = {0, 0}, c[2][2] = {{0, 0}, {0, 0}};
  int64_t n = xs.dim(0);
  for (int64_t i = 0; i < n; ++i)
    for (int r = 0; r < 2; ++r) m[r] += xs.data()[2 * i + r] / double(n);
  for (int64_t i = 0; i < n; ++i)
    for (int r = 0; r < 2; ++r)
      for (int q = 0; q < 2; ++q) c[r][q] += (xs.data()[2 * i + r] - m[r]) * (xs.data()[2 * i + q] - m[q]) / double(n - 1);
  // Sigma = L L^T = [[0.64, 0.40], [0.40, 0.41]].
  double want[2][2] = {{0.64, 0.40}, {0.40, 0.41}};
  for (int r = 0; r < 2; ++r) {
    INFO("mean " << r << ": " << m[r]);
    CHECK(std::fabs(m[r] - kMu[r]) < 0.05);
    for (int q = 0; q < 2; ++q) {
      INFO("cov " << r << q << ": " << c[r][q]);
      CHECK(std::fabs(c[r][q] - want[r][q]) < 0.06);
    }
  }
}

TEST_CASE("a non-finite loss stops training with an error") {
  Rng init(6);
  MlpField model(2, 16, 3, init);
  CondOTPath path;
  Tensor bad = correlated_gaussian(100, 7);
  bad.data()[17] = INFINITY;  // one corrupt sample is enough to poison a batch that draws it
  std::unique_ptr<Dataset> data = tensor_dataset("bad", bad);
  TrainOptions opt;
  opt.batch = 1000;
  Trainer trainer(model, path, *data, opt);
  CHECK_THROWS_WITH_AS(trainer.step(), doctest::Contains("loss"), std::runtime_error);
}

TEST_CASE("the learning-rate schedule warms up and decays") {
  TrainOptions opt;
  opt.steps = 1000;
  opt.warmup = 100;
  opt.lr = 1.0;
  CHECK(scheduled_lr(opt, 0) == doctest::Approx(0.01));
  CHECK(scheduled_lr(opt, 99) == doctest::Approx(1.0));
  CHECK(scheduled_lr(opt, 550) == doctest::Approx(0.5).epsilon(1e-6));  // half way through the cosine
  CHECK(scheduled_lr(opt, 999) < 1e-4);
  opt.schedule = "constant";
  CHECK(scheduled_lr(opt, 999) == doctest::Approx(1.0));
}

}  // TEST_SUITE
