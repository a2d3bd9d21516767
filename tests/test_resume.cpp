// tests/test_resume.cpp: stopping and resuming training. A run of 2N steps and a run of N steps,
// saved, rebuilt from scratch, restored and run N more, must agree bit for bit (every loss and
// every weight); a diverging step must leave the last saved state untouched.
#include <doctest/doctest.h>

#include "tests/test_util.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>

#include <unistd.h>

#include "flow/trainer.h"
#include "nn/mlp.h"
#include "nn/unet.h"

using namespace fm;

namespace {

std::string temp_path(const std::string& tag) {
  return (std::filesystem::temp_directory_path() / ("fm_test_resume_" + std::to_string(getpid()) + "_" + tag)).string();
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), sizeof(float) * size_t(a.numel())) == 0;
}

// Builds a fresh model; every call must give the same initial weights and dropout seed.
using ModelFactory = std::function<std::unique_ptr<FieldModel>()>;

struct Run {
  std::vector<double> losses;      // per step
  std::vector<NamedTensor> state;  // the trainer's full state at the end
};

std::vector<double> run_steps(Trainer& trainer, int64_t n) {
  std::vector<double> losses;
  for (int64_t i = 0; i < n; ++i) losses.push_back(trainer.step().loss);
  return losses;
}

// 2n steps in one go, and n steps + save + fresh model and trainer + load + n steps.
void check_resume_is_exact(const ModelFactory& make, Dataset& data, const TrainOptions& opt, int64_t n) {
  CondOTPath path;
  Run whole, split;
  {
    std::unique_ptr<FieldModel> model = make();
    Trainer trainer(*model, path, data, opt);
    whole.losses = run_steps(trainer, 2 * n);
    whole.state = trainer.state_tensors();
  }
  const std::string file = temp_path("state.safetensors");
  {
    std::unique_ptr<FieldModel> model = make();
    Trainer trainer(*model, path, data, opt);
    split.losses = run_steps(trainer, n);
    save_train_state(file, trainer);
  }
  SafetensorsFile saved = load_safetensors(file);
  std::filesystem::remove(file);
  {
    std::unique_ptr<FieldModel> model = make();
    Trainer trainer(*model, path, data, train_options_from_metadata(saved.metadata));
    trainer.load_state(saved);
    CHECK(trainer.steps_done() == n);
    std::vector<double> rest = run_steps(trainer, n);
    split.losses.insert(split.losses.end(), rest.begin(), rest.end());
    split.state = trainer.state_tensors();
  }
  REQUIRE(whole.losses.size() == split.losses.size());
  for (size_t i = 0; i < whole.losses.size(); ++i) {
    INFO("step " << i << ": " << whole.losses[i] << " vs " << split.losses[i]);
    CHECK(std::memcmp(&whole.losses[i], &split.losses[i], sizeof(double)) == 0);
  }
  REQUIRE(whole.state.size() == split.state.size());
  for (size_t i = 0; i < whole.state.size(); ++i) {
    INFO(whole.state[i].name);
    CHECK(whole.state[i].name == split.state[i].name);
    CHECK(same_bits(whole.state[i].tensor, split.state[i].tensor));
  }
}

// 8x8 one-channel images with random integer pixels.
std::unique_ptr<Dataset> random_images(int64_t n, bool hflip) {
  return image_dataset("random8x8", fm::testing::random_pixels({n, 1, 8, 8}, 42), hflip);
}

UNetConfig tiny_unet() {
  UNetConfig c = fm::testing::tiny_unet_config();
  c.dropout = 0.1;  // exercises the dropout stream
  return c;
}

// Built from a fixed initialisation seed, as fm train rebuilds the model when it resumes.
std::unique_ptr<FieldModel> tiny_unet_model() {
  Rng init(derive_seed(9, Stream::Init));
  return std::make_unique<UNetField>(tiny_unet(), init);
}

TrainOptions tiny_unet_options() {
  TrainOptions opt;
  opt.steps = 8;
  opt.batch = 4;
  opt.lr = 1e-3;
  opt.warmup = 2;
  opt.ema = 0.99;
  opt.seed = 9;
  return opt;
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("training options round-trip exactly through the train-state metadata") {
  TrainOptions o;
  o.steps = 1234;
  o.batch = 17;
  o.lr = 2e-4 / 3.0;  // no short decimal form
  o.schedule = "constant";
  o.warmup = 7;
  o.clip = 0.1;
  o.ema = 0.9999;
  o.seed = 18446744073709551615ull;
  o.adam.decoupled = true;
  o.adam.weight_decay = 0.01;
  TrainOptions b = train_options_from_metadata(train_options_metadata(o));
  CHECK(b.steps == o.steps);
  CHECK(b.batch == o.batch);
  CHECK(b.lr == o.lr);
  CHECK(b.schedule == o.schedule);
  CHECK(b.warmup == o.warmup);
  CHECK(b.clip == o.clip);
  CHECK(b.ema == o.ema);
  CHECK(b.seed == o.seed);
  CHECK(b.adam.decoupled);
  CHECK(b.adam.weight_decay == o.adam.weight_decay);
  CHECK(b.adam.beta2 == o.adam.beta2);
  std::map<std::string, std::string> m = train_options_metadata(o);
  m["lr"] = "fast";
  CHECK_THROWS_WITH_AS(train_options_from_metadata(m), doctest::Contains("'lr'"), std::runtime_error);
}

TEST_CASE("a resumed MLP run is bitwise an uninterrupted one") {
  std::unique_ptr<Dataset> data = open_dataset("8gaussians");
  TrainOptions opt;
  opt.steps = 12;  // cosine over the whole run: the schedule depends on the restored step
  opt.batch = 64;
  opt.lr = 3e-3;
  opt.warmup = 3;
  opt.seed = 5;
  opt.adam.decoupled = true;
  opt.adam.weight_decay = 1e-2;
  check_resume_is_exact([] {
    Rng init(derive_seed(5, Stream::Init));
    return std::unique_ptr<FieldModel>(std::make_unique<MlpField>(2, 32, 3, init));
  }, *data, opt, 6);
}

TEST_CASE("a resumed U-Net run with dropout and flips is bitwise an uninterrupted one") {
  std::unique_ptr<Dataset> data = random_images(50, /*hflip=*/true);
  check_resume_is_exact(tiny_unet_model, *data, tiny_unet_options(), 4);
}

TEST_CASE("the U-Net's dropout stream is part of the train state") {
  // Restoring everything but the dropout stream's position changes the next loss.
  std::unique_ptr<Dataset> data = random_images(50, false);
  CondOTPath path;
  std::unique_ptr<FieldModel> a = tiny_unet_model(), b = tiny_unet_model();
  Trainer ta(*a, path, *data, tiny_unet_options());
  run_steps(ta, 2);
  const std::string file = temp_path("dropout.safetensors");
  save_train_state(file, ta);
  SafetensorsFile saved = load_safetensors(file);
  std::filesystem::remove(file);
  CHECK(std::stoull(saved.metadata.at("rng.model")) > 0);
  saved.metadata["rng.model"] = std::to_string(0);  // (not = "0": GCC 12 warns falsely, -Wrestrict)
  Trainer tb(*b, path, *data, tiny_unet_options());
  tb.load_state(saved);
  CHECK(ta.step().loss != tb.step().loss);
}

TEST_CASE("a diverging run leaves the last saved state byte-identical") {
  Tensor x = Tensor::empty({400, 2});
  Rng(3).normal(x);
  x.data()[2 * 123] = NAN;  // one corrupt row: the loss turns NaN at the first batch that draws it
  std::unique_ptr<Dataset> data = tensor_dataset("corrupt", x);
  Rng init(1);
  MlpField model(2, 16, 3, init);
  CondOTPath path;
  TrainOptions opt;
  opt.batch = 8;
  Trainer trainer(model, path, *data, opt);
  const std::string file = temp_path("diverge.safetensors");
  std::string last_good;
  bool stopped = false;
  // As fm train does: save after each good step; a bad step throws before anything is saved.
  for (int i = 0; i < 200 && !stopped; ++i) {
    try {
      trainer.step();
    } catch (const std::runtime_error& e) {
      CHECK(std::string(e.what()).find("loss") != std::string::npos);
      stopped = true;
      break;
    }
    save_train_state(file, trainer);
    last_good = file_bytes(file);
  }
  REQUIRE(stopped);
  REQUIRE(!last_good.empty());
  CHECK(file_bytes(file) == last_good);
  // The failed step changed no weight, moment or EMA: the state on disk is the trainer's.
  SafetensorsFile saved = load_safetensors(file);
  for (const NamedTensor& t : trainer.state_tensors()) {
    INFO(t.name);
    REQUIRE(saved.find(t.name));
    CHECK(same_bits(*saved.find(t.name), t.tensor));
  }
  // And non-finite weights are never written over a good file.
  model.parameters()[0].var.node()->value.data()[0] = INFINITY;
  CHECK_THROWS_WITH_AS(save_train_state(file, trainer), doctest::Contains("NaN or Inf"), std::runtime_error);
  CHECK(file_bytes(file) == last_good);
  std::filesystem::remove(file);
}

}  // TEST_SUITE
