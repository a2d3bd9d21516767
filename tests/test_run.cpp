// tests/test_run.cpp: the training run of flow/run.h without the command line: the run's
// metadata round trip, the model chosen by the data's shape, loss.csv's rows and their
// truncation, a run interrupted after a checkpoint and resumed that matches an uninterrupted
// one, the hooks, refused resumes that leave the run directory as it was, and a diverged run
// that writes no checkpoint.
#include <doctest/doctest.h>

#include "tests/test_util.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <sstream>

#include "flow/loss_log.h"
#include "flow/run.h"
#include "nn/mlp.h"
#include "tests/run_util.h"

using namespace fm;
using fm::testing::rows_without_seconds;
using fm::testing::error_of;
using fm::testing::TempDir;
namespace fs = std::filesystem;

namespace {

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Every file of a directory with its bytes, to see that nothing changed.
std::map<std::string, std::string> dir_bytes(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) out[e.path().filename().string()] = file_bytes(e.path().string());
  return out;
}

// A tiny MLP run on the checkerboard: 6 steps of batch 16, a loss.csv row every 2 steps.
RunSpec tiny_spec() {
  RunSpec r;
  r.data_spec = "checkerboard";
  r.model = mlp_config(2, 8, 3);
  r.train.steps = 6;
  r.train.batch = 16;
  r.train.warmup = 2;
  r.train.seed = 11;
  r.log_every = 2;
  return r;
}

TrainRunOptions tiny_run(const std::string& dir, int64_t steps) {
  TrainRunOptions o;
  o.spec = tiny_spec();
  o.spec.train.steps = steps;
  o.out_dir = dir;
  o.ckpt_every = 3;
  return o;
}

TrainRunResult train(const TrainRunOptions& o, const RunHooks& hooks = {}) {
  std::unique_ptr<Dataset> data = open_dataset(o.spec.data_spec, o.spec.data);
  return train_run(o, *data, hooks);
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("a run's spec survives its metadata exactly") {
  RunSpec r = tiny_spec();
  r.data_spec = "some/file.npy";
  r.data.split = "test";
  r.data.data_dir = "/data";
  r.data.hflip = true;
  r.path = "ve";
  r.sigma_min = 0.1 + 0.2;  // not a short decimal: the text must be exact
  r.train.lr = 1.0 / 3.0;
  r.train.schedule = "constant";
  r.log_every = 7;
  std::map<std::string, std::string> m = run_metadata(r);
  m.merge(train_options_metadata(r.train));  // a train state holds both
  RunSpec back = run_from_metadata(m);
  CHECK(back.data_spec == r.data_spec);
  CHECK(back.data.split == "test");
  CHECK(back.data.data_dir == "/data");
  CHECK(back.data.hflip);
  CHECK(back.path == "ve");
  CHECK(back.sigma_min == r.sigma_min);
  CHECK(to_json(back.model) == to_json(r.model));
  CHECK(back.train.lr == r.train.lr);
  CHECK(back.train.schedule == "constant");
  CHECK(back.train.steps == r.train.steps);
  CHECK(back.log_every == 7);
  m.erase("log_every");
  CHECK(error_of([&] { run_from_metadata(m); }).find("log_every") != std::string::npos);
}

TEST_CASE("the model follows the data: the MLP for flat samples, the U-Net for images") {
  std::unique_ptr<Dataset> points = tensor_dataset("points", Tensor::zeros({10, 3}));
  std::unique_ptr<Dataset> images = image_dataset("images", Tensor::zeros({2, 1, 8, 8}));
  std::unique_ptr<Dataset> neither = tensor_dataset("odd", Tensor::zeros({10, 2, 3}));
  CHECK(data_kind(*points) == DataKind::Points);
  CHECK(data_kind(*images) == DataKind::Images);
  CHECK(error_of([&] { data_kind(*neither); }).find("odd: samples of shape [2, 3] fit neither") == 0);

  ModelChoice c;
  c.width = 16;
  c.depth = 3;
  c.unet = fm::testing::tiny_unet_config();
  c.unet.in_channels = 5;  // overridden by the data's shape
  Json mlp = model_for_data(points->sample_shape(), c);
  CHECK(mlp.find("model")->as_string() == "mlp");
  CHECK(mlp.find("dim")->as_number() == 3);
  CHECK(mlp.find("width")->as_number() == 16);
  UNetConfig u = unet_config_from_json(model_for_data(images->sample_shape(), c));
  CHECK(u.in_channels == 1);
  CHECK(u.height == 8);
  CHECK(u.width == 8);
  CHECK(u.channels == c.unet.channels);
}

TEST_CASE("loss.csv: a row per window and at the last step; a resume drops the rows after it") {
  TempDir tmp("fm_test_run");
  const std::string path = tmp.path("loss.csv");
  {
    LossLog log(path, 3, 0, nullptr);
    for (int64_t step = 1; step <= 4; ++step) log.add(step, StepStats{double(step), 1.0, 0.5}, step == 4, 0.0);
    CHECK(log.last_loss() == 4.0);  // the window of step 4 alone
  }
  CHECK(rows_without_seconds(path) == std::vector<std::string>{"step,loss,lr,grad_norm", "3,2.000000,0.5,1.0000", "4,4.000000,0.5,1.0000"});
  std::ofstream(path, std::ios::app) << "not a row\n6,1.0,0.5,1.0,0.0\n";
  keep_loss_rows_until(path, 3);
  CHECK(rows_without_seconds(path) == std::vector<std::string>{"step,loss,lr,grad_norm", "3,2.000000,0.5,1.0000"});
}

TEST_CASE("train_run resumed from its checkpoint continues exactly; the hooks see every step") {
  TempDir tmp("fm_test_run");
  const std::string whole = tmp.path("whole"), split = tmp.path("split");
  int64_t steps_seen = 0, snapshots = 0, finals = 0, evaluations = 0, eval_starts = 0;
  RunHooks hooks;
  hooks.on_step = [&](const RunContext&, int64_t step, double loss) {
    CHECK(step == ++steps_seen);
    CHECK(std::isfinite(loss));
  };
  hooks.on_samples = [&](const RunContext& c, const RunSamples& s) {
    if (s.final) return void(++finals);
    CHECK(s.step % 2 == 0);
    CHECK(c.trainer.steps_done() == s.step);
    CHECK(s.samples.shape() == Shape{64, 2});
    ++snapshots;
  };
  std::vector<int64_t> checkpoints;
  hooks.on_checkpoint = [&](const RunContext& c, int64_t step) {
    checkpoints.push_back(step);
    CHECK(fs::exists(c.options.out_dir + "/model.safetensors"));
    // loss.csv already holds the rows up to this step (every 2 steps here): what loss.svg is drawn from.
    CHECK(rows_without_seconds(c.options.out_dir + "/loss.csv").size() == size_t(1 + step / 2));
  };
  hooks.on_eval_progress = [&](int64_t done, int64_t total, const SolveRun&, int64_t) {
    CHECK(done <= total);
    if (done == 0) ++eval_starts;  // the evaluation starts
    else ++evaluations;
  };
  TrainRunOptions o = tiny_run(whole, 6);
  o.grid_every = 2;
  o.eval_n = 30, o.eval_batch = 20;
  TrainRunResult r = train(o, hooks);
  CHECK(steps_seen == 6);
  CHECK(snapshots == 2);  // at 2 and 4, not at the last step
  CHECK(finals == 2);     // the final grid and, for 2-D points, the picture
  CHECK(checkpoints == std::vector<int64_t>{3, 6});  // every 3 steps and at the end
  CHECK(eval_starts == 1);
  CHECK(evaluations == 2);  // chunks of 20 and 10
  REQUIRE(r.nll.has_value());
  CHECK(std::isfinite(r.nll->nll.mean));
  CHECK(r.start == 0);
  CHECK(r.steps == 6);
  CHECK(r.checkpoint == whole + "/model.safetensors");
  CHECK(rows_without_seconds(whole + "/loss.csv").size() == 4);  // header + steps 2, 4, 6

  // The same run interrupted at step 4, after its checkpoint at 3 and loss.csv's row at 4.
  TrainRunOptions stopped = tiny_run(split, 6);
  stopped.grid_every = 4;
  RunHooks interrupt;
  interrupt.on_samples = [](const RunContext&, const RunSamples&) { throw std::runtime_error("interrupted"); };
  CHECK(error_of([&] { train(stopped, interrupt); })
            .find("interrupted; training stopped. The last good checkpoint " + split + "/model.safetensors (step 3,") == 0);
  CHECK(rows_without_seconds(split + "/loss.csv").size() == 3);  // header + steps 2, 4
  ResumeRequest req;
  req.dir = split;
  ResumedRun resumed = load_resume(req);
  CHECK(resumed.step == 3);
  CHECK(resumed.spec.train.steps == 6);
  CHECK(resumed.note.empty());
  TrainRunOptions more;
  more.spec = resumed.spec;
  more.out_dir = split;
  more.ckpt_every = 3;
  more.resume_state = std::move(resumed.state);
  int64_t start_seen = -1;
  RunHooks on_start;
  on_start.on_start = [&](const RunContext& c) { start_seen = c.start; };
  TrainRunResult rest = train(more, on_start);
  CHECK(start_seen == 3);
  CHECK(rest.start == 3);
  CHECK(rows_without_seconds(split + "/loss.csv") == rows_without_seconds(whole + "/loss.csv"));
  CHECK(file_bytes(split + "/model.safetensors") == file_bytes(whole + "/model.safetensors"));
  CHECK(rest.last_loss == r.last_loss);
}

TEST_CASE("a refused resume names the option and leaves the run directory as it was") {
  TempDir tmp("fm_test_run");
  const std::string dir = tmp.path("run");
  train(tiny_run(dir, 4));
  const std::map<std::string, std::string> before = dir_bytes(dir);
  auto refusal = [&](ResumeRequest req) {
    req.dir = dir;
    try {
      load_resume(req);
    } catch (const RunOptionError& e) {
      return std::string(e.what());
    }
    return std::string("<no RunOptionError>");
  };
  ResumeRequest changed;
  changed.run_options_given = {"--lr", "--batch"};
  CHECK(refusal(changed) == "--lr comes from the checkpoint in " + dir + " and cannot be changed with --resume");
  ResumeRequest shorter;
  shorter.steps = 2;
  CHECK(refusal(shorter) == "--steps 2 is below the run's 4; --resume can only extend a run");
  CHECK(refusal(ResumeRequest{}).find("is already trained to 4 steps") != std::string::npos);
  ResumeRequest longer;
  longer.dir = dir;
  longer.steps = 9;
  ResumedRun extended = load_resume(longer);
  CHECK(extended.spec.train.steps == 9);
  CHECK(extended.note == "note: the cosine schedule now decays to zero at step 9 instead of 4");
  CHECK(dir_bytes(dir) == before);

  ResumeRequest missing;
  missing.dir = tmp.path("nowhere");
  CHECK(error_of([&] { load_resume(missing); }).find("train_state.safetensors not found") != std::string::npos);
}

TEST_CASE("a train state whose options describe a huge model is refused before the model is allocated") {
  TempDir tmp("fm_test_run");
  const std::string dir = tmp.path("run");
  train(tiny_run(dir, 4));
  const std::string state = dir + "/train_state.safetensors";
  SafetensorsFile f = load_safetensors(state);
  // The state holds the 8-wide MLP's tensors (a few KiB); its config now asks for 30,000 x 30,000
  // weights (3.6 GB each layer).
  f.metadata["config"] = to_json(mlp_config(2, 30000, 3));
  save_safetensors(state, f.tensors, f.metadata);
  ResumeRequest req;
  req.dir = dir;
  req.steps = 8;
  ResumedRun r = load_resume(req);
  Rng rng(0);
  const std::string e = error_of([&] { make_run_model(r.spec, &r.state, rng); });
  CHECK(e.find("train_state.safetensors: the model its options describe: asks for a tensor of 3600000000 bytes") == 0);
  TrainRunOptions o = tiny_run(dir, 8);
  o.spec = r.spec;
  o.resume_state = r.state;
  CHECK(error_of([&] { train(o); }).find("asks for a tensor of 3600000000 bytes") != std::string::npos);
  // The untampered state builds its model under the same budget.
  TempDir tmp2("fm_test_run");
  train(tiny_run(tmp2.path("run"), 4));
  ResumeRequest ok;
  ok.dir = tmp2.path("run");
  ok.steps = 8;
  ResumedRun good = load_resume(ok);
  CHECK(make_run_model(good.spec, &good.state, rng) != nullptr);
}

TEST_CASE("a run whose loss is not finite stops before writing any checkpoint") {
  TempDir tmp("fm_test_run");
  Tensor bad = Tensor::full({8, 2}, std::numeric_limits<float>::quiet_NaN());
  std::unique_ptr<Dataset> data = tensor_dataset("nan", bad);
  TrainRunOptions o = tiny_run(tmp.path("run"), 4);
  std::string msg = error_of([&] { train_run(o, *data); });
  CHECK(msg.find("training stopped. No checkpoint was written yet.") != std::string::npos);
  CHECK_FALSE(fs::exists(tmp.path("run/model.safetensors")));
  CHECK_FALSE(fs::exists(tmp.path("run/train_state.safetensors")));
}

}  // TEST_SUITE
