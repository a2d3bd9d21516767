// tests/test_determinism.cpp: one seed, identical results with 1 and 2 threads.
#include <doctest/doctest.h>
#include "tensor/cpu/thread_pool.h"

#include <cstring>

#include "flow/trainer.h"
#include "nn/mlp.h"
#include "ode/likelihood.h"

using namespace fm;

namespace {

struct Outcome {
  std::vector<float> weights;
  std::vector<double> logp;
  std::vector<double> losses;
};

// A few training steps, then a Hutchinson likelihood and a sample, all from one seed.
Outcome run(int threads) {
  int saved = fm::num_threads();
  fm::set_num_threads(threads);
  Rng init(derive_seed(11, Stream::Init));
  MlpField model(2, 96, 4, init);
  CondOTPath path;
  std::unique_ptr<Dataset> data = open_dataset("checkerboard");
  TrainOptions opt;
  opt.steps = 12;
  opt.batch = 3000;  // large enough that every kernel splits its work across threads
  opt.seed = 11;
  Trainer trainer(model, path, *data, opt);
  Outcome out;
  for (int s = 0; s < opt.steps; ++s) out.losses.push_back(trainer.step().loss);
  trainer.use_eval_weights();
  for (const NamedTensor& w : trainer.eval_weights())
    out.weights.insert(out.weights.end(), w.tensor.data(), w.tensor.data() + w.tensor.numel());
  Rng rng(12);
  FlowSolveOptions lopt;
  lopt.divergence = Divergence::Hutchinson;
  lopt.ode.rtol = lopt.ode.atol = 1e-4;
  Tensor x = data->batch(2500, rng);
  out.logp = log_likelihood([&](const Var& v, const Tensor& t) { return model.forward(v, t); }, x, lopt, rng).logp;
  fm::set_num_threads(saved);
  return out;
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("training and likelihoods are bitwise identical with 1 and 2 threads") {
  Outcome one = run(1), two = run(2);
  REQUIRE(one.weights.size() == two.weights.size());
  CHECK(one.losses == two.losses);
  CHECK(std::memcmp(one.weights.data(), two.weights.data(), one.weights.size() * sizeof(float)) == 0);
  CHECK(one.logp == two.logp);
  // And a different seed really changes the result (the comparison above can fail).
  Rng a(1), b(2);
  Tensor ta = Tensor::empty({8}), tb = Tensor::empty({8});
  a.normal(ta);
  b.normal(tb);
  CHECK(std::memcmp(ta.data(), tb.data(), 32) != 0);
}

}  // TEST_SUITE
