// tests/test_nn.cpp: layers, the MLP field, optimisers and checkpoints.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "autodiff/gradcheck.h"
#include "autodiff/ops.h"
#include "nn/checkpoint.h"
#include "nn/mlp.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "tensor/allocator.h"

using namespace fm;

namespace {
std::string temp_path(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("fm_test_nn_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}
}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("the paper's 2-D MLP has 791,042 parameters with PyTorch names") {
  Rng rng(0);
  MlpField mlp(2, 512, 5, rng);
  CHECK(mlp.num_parameters() == 791042);
  std::vector<Param> ps = mlp.parameters();
  REQUIRE(ps.size() == 10);
  CHECK(ps[0].name == "net.0.weight");
  CHECK(ps[0].var.shape() == Shape{512, 3});
  CHECK(ps[9].name == "net.8.bias");
  CHECK(ps[8].var.shape() == Shape{2, 512});
}

TEST_CASE("Linear initialisation follows PyTorch's U(-1/sqrt(in), 1/sqrt(in))") {
  Rng rng(1);
  Linear lin(400, 300, rng);
  float bound = 1.0f / 20.0f, lo = 1, hi = -1;
  double var = 0;
  const Tensor& w = lin.weight.value();
  for (int64_t i = 0; i < w.numel(); ++i) {
    lo = std::min(lo, w.data()[i]);
    hi = std::max(hi, w.data()[i]);
    var += double(w.data()[i]) * w.data()[i];
  }
  CHECK(lo >= -bound);
  CHECK(hi <= bound);
  CHECK(hi > 0.99f * bound);
  CHECK(var / w.numel() == doctest::Approx(bound * bound / 3.0).epsilon(0.02));  // variance of U(-b, b)
}

TEST_CASE("the MLP field's gradients w.r.t. input and parameters match finite differences") {
  Rng rng(2);
  MlpField mlp(3, 8, 3, rng);
  std::vector<Param> ps = mlp.parameters();
  Tensor t = Tensor::from({0.1f, 0.5f, 0.9f, 0.3f}, {4});
  Var x(Tensor::empty({4, 3}), true);
  rng.normal(x.value());
  std::vector<Var> leaves{x};
  for (const Param& p : ps) leaves.push_back(p.var);
  GradCheckResult r = check_gradients([&]() { return mlp.forward(x, t); }, leaves);
  INFO(r.report);
  CHECK(r.ok);
}

TEST_CASE("Adam matches the closed form of its first steps") {
  // With a constant gradient g, the bias-corrected moments are m_hat = g and v_hat = g^2, so
  // every step moves p by -lr * g / (|g| + eps) = -lr sign(g) (up to eps).
  Var p = Var::param(Tensor::from({1.0f, -2.0f}, {2}));
  Adam adam({{"p", p}}, AdamOptions{});
  for (int k = 0; k < 3; ++k) {
    p.grad() = Tensor::from({0.5f, -3.0f}, {2});
    adam.step(0.1);
  }
  CHECK(p.value().data()[0] == doctest::Approx(1.0 - 0.3).epsilon(1e-5));
  CHECK(p.value().data()[1] == doctest::Approx(-2.0 + 0.3).epsilon(1e-5));
  // AdamW decays the weight first: p <- p (1 - lr wd), then the same Adam step.
  Var q = Var::param(Tensor::from({2.0f}, {1}));
  AdamOptions o;
  o.decoupled = true;
  o.weight_decay = 0.5;
  Adam adamw({{"q", q}}, o);
  q.grad() = Tensor::from({1.0f}, {1});
  adamw.step(0.1);
  CHECK(q.value().data()[0] == doctest::Approx(2.0 * (1 - 0.05) - 0.1).epsilon(1e-5));
  // Adam's L2 form adds wd * p to the gradient: with g + wd p = 0 the step is zero.
  Var r = Var::param(Tensor::from({2.0f}, {1}));
  AdamOptions l2;
  l2.weight_decay = 0.5;
  Adam adam_l2({{"r", r}}, l2);
  r.grad() = Tensor::from({-1.0f}, {1});
  adam_l2.step(0.1);
  CHECK(r.value().data()[0] == doctest::Approx(2.0));
}

TEST_CASE("gradient clipping, warm-up and EMA") {
  Var a = Var::param(Tensor::zeros({2})), b = Var::param(Tensor::zeros({1}));
  a.grad() = Tensor::from({3.0f, 0.0f}, {2});
  b.grad() = Tensor::from({4.0f}, {1});
  std::vector<Param> ps{{"a", a}, {"b", b}};
  CHECK(clip_grad_norm(ps, 1.0) == doctest::Approx(5.0));
  CHECK(a.grad().data()[0] == doctest::Approx(0.6).epsilon(1e-5));
  CHECK(b.grad().data()[0] == doctest::Approx(0.8).epsilon(1e-5));
  CHECK(clip_grad_norm(ps, 10.0) == doctest::Approx(1.0).epsilon(1e-5));  // under the limit: unchanged
  CHECK(a.grad().data()[0] == doctest::Approx(0.6).epsilon(1e-5));
  CHECK(warmup_lr(1.0, 0, 10) == doctest::Approx(0.1));
  CHECK(warmup_lr(1.0, 50, 10) == doctest::Approx(1.0));
  Ema ema(ps, 0.9);
  a.value().fill(1.0f);
  ema.update();  // warm-up decay 1/10: shadow = 0.1 * 0 + 0.9 * 1
  CHECK(ema.weights()[0].tensor.data()[0] == doctest::Approx(0.9));
  for (int k = 1; k < 100; ++k) ema.update();
  a.value().fill(0.0f);
  ema.update();  // past warm-up the decay is 0.9: shadow = 0.9 * 1 + 0.1 * 0
  CHECK(ema.weights()[0].tensor.data()[0] == doctest::Approx(0.9).epsilon(1e-5));
}

TEST_CASE("checkpoint round trip is bitwise and mismatches are rejected") {
  Rng rng(3);
  MlpField mlp(2, 16, 3, rng);
  std::vector<NamedTensor> w;
  for (const Param& p : mlp.parameters()) w.push_back({p.name, p.var.value()});
  std::string path = temp_path("model.safetensors");
  save_checkpoint(path, mlp, w, 123, {{"data", "checkerboard"}});
  LoadedModel lm = load_checkpoint(path);
  CHECK(lm.step == 123);
  CHECK(lm.metadata.at("data") == "checkerboard");
  std::vector<Param> a = mlp.parameters(), b = lm.model->parameters();
  REQUIRE(a.size() == b.size());
  for (size_t k = 0; k < a.size(); ++k) {
    CHECK(a[k].name == b[k].name);
    CHECK(std::memcmp(a[k].var.value().data(), b[k].var.value().data(), a[k].var.numel() * 4) == 0);
  }
  // A model of another width must refuse these weights, naming the tensor.
  Rng rng2(4);
  MlpField other(2, 32, 3, rng2);
  SafetensorsFile f = load_safetensors(path);
  CHECK_THROWS_WITH_AS(load_weights(path, f, other.parameters()), doctest::Contains("net.0.weight"), std::runtime_error);
  // A checkpoint whose config is not JSON is rejected with a message, not a crash.
  save_safetensors(path, w, {{"config", "{not json"}});
  CHECK_THROWS_AS(load_checkpoint(path), std::runtime_error);
  save_safetensors(path, w, {});
  CHECK_THROWS_WITH_AS(load_checkpoint(path), doctest::Contains("config"), std::runtime_error);
  // A config far larger than the weights the file holds (here 100000 wide: 4e10 bytes) is refused
  // before its first large tensor is allocated.
  save_safetensors(path, w, {{"config", to_json(mlp_config(2, 100000, 5))}});
  reset_peak_memory();
  const int64_t in_use = allocator_stats().in_use_bytes;
  CHECK_THROWS_WITH_AS(load_checkpoint(path), doctest::Contains("the model config: asks for a tensor of"), std::runtime_error);
  CHECK(allocator_stats().peak_bytes < in_use + (int64_t(2) << 20));
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

TEST_CASE("an allocation budget refuses the allocation that would pass it, and ends with its scope") {
  {
    const AllocationBudget budget(1000 * sizeof(float), "test");
    Tensor a = Tensor::empty({600});
    CHECK_THROWS_WITH_AS(Tensor::empty({600}), doctest::Contains("test: asks for a tensor of 2400 bytes with only 1600 left"),
                         std::runtime_error);
    Tensor b = Tensor::empty({400});  // exactly what is left
  }
  Tensor big = Tensor::empty({1 << 20});  // no budget any more
  CHECK(big.numel() == (1 << 20));
}

TEST_CASE("model configs are validated") {
  Rng rng(5);
  CHECK(make_model(mlp_config(3, 4, 2), rng)->num_parameters() == (4 * 4 + 4) + (4 * 3 + 3));
  CHECK_THROWS(make_model(mlp_config(3, 4, 1), rng));
  Json bad = mlp_config(2, 4, 3);
  bad.set("model", "transformer");
  CHECK_THROWS_WITH_AS(make_model(bad, rng), doctest::Contains("transformer"), std::runtime_error);
}

}  // TEST_SUITE
