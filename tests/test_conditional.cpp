// tests/test_conditional.cpp: class-conditional fields and classifier-free guidance
// (nn/class_embedding.h), labelled datasets, and a conditional flow trained on data whose classes
// have known densities: its samples and its exact log p(x | y) and log p(x) against the truth.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>

#include "flow/dataset.h"
#include "flow/path.h"
#include "flow/trainer.h"
#include "nn/checkpoint.h"
#include "nn/mlp.h"
#include "nn/model.h"
#include "nn/unet.h"
#include "ode/evaluate.h"
#include "tensor/io/npy.h"
#include "tests/test_util.h"

using namespace fm;
using namespace fm::testing;


TEST_CASE("one-hot labels: a 1 in each row's class, the last column for 'no class', range checked") {
  Tensor h = class_onehot({2, 0, 3}, 3);
  REQUIRE(h.shape() == Shape{3, 4});
  const std::vector<float> want{0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1};
  CHECK(h.to_vector() == want);
  CHECK(error_of([] { class_onehot({1, 4}, 3); }).find("class label 4 (sample 1) is out of range") != std::string::npos);
  CHECK_THROWS(class_onehot({-1}, 3));
  Tensor g = guidance_onehot({1, 0}, 2, 1.5);  // [y; ∅]
  CHECK(g.to_vector() == std::vector<float>{0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1});
  CHECK(guidance_onehot({1, 0}, 2, 0.0).shape() == Shape{2, 3});
}

TEST_CASE("conditional MLP and U-Net: gradients of the class embedding and of x match finite differences") {
  Rng init(1);
  MlpField mlp(3, 16, 3, init, /*classes=*/4);
  REQUIRE(mlp.num_classes() == 4);
  const Tensor t = randu({5}, 2, 0.0f, 1.0f), onehot = class_onehot({0, 3, 4, 1, 3}, 4);
  Var x = Var::param(randu({5, 3}, 3));
  std::vector<Param> params = mlp.parameters();
  REQUIRE(params.back().name == "class_emb.weight");
  REQUIRE(params.back().var.shape() == Shape{5, 16});
  GradCheckResult r = check_gradients([&] { return mlp.forward_class(x, t, onehot); }, {x, params.back().var, params[0].var});
  INFO(r.report);
  CHECK(r.ok);

  UNetConfig c = tiny_unet_config();
  c.classes = 3;
  UNetField unet(c, init);
  Var xi = Var::param(randu({2, 1, 8, 8}, 4));
  const Tensor ti = randu({2}, 5, 0.0f, 1.0f), oh = class_onehot({2, 3}, 3);
  std::vector<Param> up = unet.parameters();
  REQUIRE(up.back().name == "class_emb.weight");
  GradCheckOptions opt;
  opt.max_checks = 12;
  GradCheckResult ru = check_gradients([&] { return unet.forward_class(xi, ti, oh); }, {xi, up.back().var}, opt);
  INFO(ru.report);
  CHECK(ru.ok);
}

TEST_CASE("the guided field is (1 + w) v(x, t | y) - w v(x, t | no class), from one batched pass") {
  Rng init(6);
  MlpField mlp(2, 32, 3, init, 3);
  const Tensor x = randu({4, 2}, 7), t = randu({4}, 8, 0.0f, 1.0f);
  const std::vector<int64_t> y{0, 2, 1, 2};
  const Tensor vc = mlp.forward_class(Var(x), t, class_onehot(y, 3)).value();
  const Tensor vu = mlp.forward_class(Var(x), t, class_onehot({3, 3, 3, 3}, 3)).value();
  // forward(x, t) of a conditional model is its unconditional field.
  const Tensor vf = mlp.forward(Var(x), t).value();
  for (int64_t i = 0; i < vu.numel(); ++i) CHECK(vf.data()[i] == doctest::Approx(vu.data()[i]).epsilon(1e-6));
  for (double w : {0.0, 1.0, 3.0}) {
    const Tensor g = guided_forward(mlp, Var(x), t, guidance_onehot(y, 3, w), w).value();
    for (int64_t i = 0; i < g.numel(); ++i)
      CHECK(g.data()[i] == doctest::Approx((1 + w) * vc.data()[i] - w * vu.data()[i]).epsilon(1e-5));
  }
  // The classes differ: the labels reach the output.
  const Tensor v0 = mlp.forward_class(Var(x), t, class_onehot({0, 0, 0, 0}, 3)).value();
  CHECK(v0.data()[0] != doctest::Approx(mlp.forward_class(Var(x), t, class_onehot({1, 1, 1, 1}, 3)).value().data()[0]));
  // An unconditional model has no classes.
  MlpField plain(2, 8, 2, init);
  CHECK(plain.num_classes() == 0);
  CHECK(error_of([&] { plain.forward_class(Var(x), t, class_onehot(y, 3)); }).find("--conditional") != std::string::npos);
  CHECK_THROWS(field_of_rows(plain, ClassCondition{{0, 1}, 0.0}, 0, 2));
  CHECK_THROWS(field_of_rows(mlp, ClassCondition{{0, 3}, 0.0}, 0, 2));  // class 3 of 3
}

TEST_CASE("a conditional checkpoint records its classes and loads back the same field") {
  TempDir dir;
  Rng init(9);
  UNetConfig c = tiny_unet_config();
  c.classes = 5;
  UNetField unet(c, init);
  const std::string path = (dir.dir / "m.safetensors").string();
  std::vector<NamedTensor> w;
  for (const Param& p : unet.parameters()) w.push_back({p.name, p.var.value()});
  save_checkpoint(path, unet, w, 1);
  LoadedModel lm = load_checkpoint(path);
  CHECK(lm.model->num_classes() == 5);
  CHECK(model_classes(lm.config) == 5);
  const Tensor x = randu({2, 1, 8, 8}, 10), t = randu({2}, 11, 0.0f, 1.0f), oh = class_onehot({4, 5}, 5);
  const Tensor a = unet.forward_class(Var(x), t, oh).value(), b = lm.model->forward_class(Var(x), t, oh).value();
  CHECK(a.to_vector() == b.to_vector());
  // An unconditional config has no "classes" key (older checkpoints load unchanged).
  CHECK(unet_config_json(tiny_unet_config()).find("classes") == nullptr);
}

TEST_CASE("label files: IDX1 and .npy, counts and ranges checked; labelled batches carry their rows' labels") {
  TempDir dir;
  const std::string idx = (dir.dir / "l-labels-idx1-ubyte").string();
  {
    std::ofstream f(idx, std::ios::binary);
    const unsigned char head[8] = {0, 0, 8, 1, 0, 0, 0, 4}, body[4] = {3, 0, 1, 3};
    f.write(reinterpret_cast<const char*>(head), 8);
    f.write(reinterpret_cast<const char*>(body), 4);
  }
  int64_t k = 0;
  CHECK(load_label_file(idx, 4, &k) == std::vector<int64_t>{3, 0, 1, 3});
  CHECK(k == 4);
  CHECK(error_of([&] { load_label_file(idx, 5, &k); }).find("holds 4 labels for 5 samples") != std::string::npos);
  const std::string npy = (dir.dir / "big.npy").string();
  save_npy_int64(npy, {0, 200000});
  CHECK(error_of([&] { load_label_file(npy, 2, &k); }).find("more than the 100000 allowed") != std::string::npos);
  CHECK_THROWS(load_label_file((dir.dir / "labels.txt").string(), 2, &k));

  // Points whose value is their label: every drawn row must carry its own label.
  const int64_t n = 50;
  Tensor pts = Tensor::empty({n, 1});
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < n; ++i) {
    labels.push_back(i % 7);
    pts.data()[i] = float(i % 7);
  }
  std::unique_ptr<Dataset> data = tensor_dataset("pts", pts, labels, 7);
  CHECK(data->num_classes() == 7);
  Rng rng(3);
  std::vector<int64_t> got;
  Tensor b = data->labelled_batch(200, rng, got);
  REQUIRE(got.size() == 200);
  for (int64_t i = 0; i < 200; ++i) CHECK(float(got[size_t(i)]) == b.data()[i]);
  std::unique_ptr<Dataset> plain = tensor_dataset("plain", pts);
  CHECK(error_of([&] { plain->labelled_batch(2, rng, got); }).find("has no class labels") != std::string::npos);
}

namespace {
// Two classes on a line, N(-2, 0.5^2) and N(+2, 0.5^2), equally many of each.
constexpr double kMean = 2.0, kStd = 0.5;
double log_normal(double x, double m) { return -0.5 * std::log(2 * M_PI * kStd * kStd) - 0.5 * (x - m) * (x - m) / (kStd * kStd); }
double log_mixture(double x) {
  const double a = log_normal(x, -kMean), b = log_normal(x, kMean), top = std::max(a, b);
  return top + std::log(0.5 * std::exp(a - top) + 0.5 * std::exp(b - top));
}
}  // namespace

TEST_CASE("a conditional flow learns each class and the mixture: samples and exact log p(x | y), log p(x) against the truth") {
  const int64_t n = 8000;
  Tensor pts = Tensor::empty({n, 1});
  std::vector<int64_t> labels(n);
  Rng gen(12);
  gen.normal(pts);
  for (int64_t i = 0; i < n; ++i) {
    labels[size_t(i)] = i % 2;
    pts.data()[i] = float((i % 2 ? kMean : -kMean) + kStd * pts.data()[i]);
  }
  std::unique_ptr<Dataset> data = tensor_dataset("two classes", pts, labels, 2);
  Rng init(13);
  MlpField model(1, 64, 3, init, 2);
  CondOTPath path;
  TrainOptions opt;
  opt.steps = 4000;
  opt.batch = 256;
  opt.lr = 3e-3;
  opt.warmup = 50;
  opt.seed = 14;
  opt.cond_drop = 0.25;  // the unconditional field learns from these rows alone
  Trainer trainer(model, path, *data, opt);
  for (int64_t s = 0; s < opt.steps; ++s) trainer.step();
  trainer.use_eval_weights();

  // Samples of each class, and of the unconditional field.
  const int64_t m = 2000;
  Tensor x0 = Tensor::empty({m, 1});
  Rng(15).normal(x0);
  FlowSolveOptions so;
  auto moments = [](const Tensor& xs, double* mean, double* sd) {
    double s = 0, q = 0;
    for (int64_t i = 0; i < xs.numel(); ++i) s += xs.data()[i];
    *mean = s / double(xs.numel());
    for (int64_t i = 0; i < xs.numel(); ++i) q += (xs.data()[i] - *mean) * (xs.data()[i] - *mean);
    *sd = std::sqrt(q / double(xs.numel() - 1));
  };
  for (int64_t y : {0, 1}) {
    SolveRun r = sample_many(model, x0, so, m, 16, false, {}, ClassCondition{std::vector<int64_t>(size_t(m), y), 0.0});
    double mean = 0, sd = 0;
    moments(r.x, &mean, &sd);
    INFO("class " << y << ": mean " << mean << ", sd " << sd);
    CHECK(std::fabs(mean - (y ? kMean : -kMean)) < 0.1);
    CHECK(std::fabs(sd - kStd) < 0.08);
  }
  SolveRun u = sample_many(model, x0, so, m, 16, false);
  int64_t positive = 0;
  for (int64_t i = 0; i < m; ++i) positive += u.x.data()[i] > 0;
  INFO("unconditional samples above 0: " << positive << " of " << m);
  CHECK(std::fabs(double(positive) / double(m) - 0.5) < 0.06);

  // Exact likelihoods of held-out points under the true labels and without them.
  const int64_t k = 1000;
  Tensor test = Tensor::empty({k, 1});
  Rng(17).normal(test);
  std::vector<int64_t> test_labels(k);
  double true_cond = 0, true_marg = 0;
  for (int64_t i = 0; i < k; ++i) {
    test_labels[size_t(i)] = i % 2;
    const double mu = i % 2 ? kMean : -kMean;
    test.data()[i] = float(mu + kStd * test.data()[i]);
    true_cond += log_normal(test.data()[i], mu) / double(k);
    true_marg += log_mixture(test.data()[i]) / double(k);
  }
  double model_cond = 0, model_marg = 0;
  for (double lp : evaluate_logp(model, test, so, k, 18, {}, ClassCondition{test_labels, 0.0}).logp) model_cond += lp / double(k);
  for (double lp : evaluate_logp(model, test, so, k, 18).logp) model_marg += lp / double(k);
  INFO("log p(x | y): model " << model_cond << ", true " << true_cond << "; log p(x): model " << model_marg << ", true " << true_marg);
  CHECK(std::fabs(model_cond - true_cond) < 0.08);
  CHECK(std::fabs(model_marg - true_marg) < 0.08);
  // The label carries log 2 nats here (the classes barely overlap).
  CHECK(std::fabs((model_cond - model_marg) - std::log(2.0)) < 0.1);
}

TEST_CASE("a trainer refuses a conditional model on data without labels or with more classes") {
  Rng init(19);
  MlpField model(1, 8, 2, init, 2);
  CondOTPath path;
  TrainOptions opt;
  std::unique_ptr<Dataset> none = tensor_dataset("none", Tensor::zeros({4, 1}));
  CHECK(error_of([&] { Trainer(model, path, *none, opt); }).find("needs class labels") != std::string::npos);
  std::unique_ptr<Dataset> three = tensor_dataset("three", Tensor::zeros({3, 1}), {0, 1, 2}, 3);
  CHECK(error_of([&] { Trainer(model, path, *three, opt); }).find("has 3 classes; the model knows 2") != std::string::npos);
}

