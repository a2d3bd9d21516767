// tests/test_gpu_runs.cpp: whole runs on the GPU against the same runs on the CPU, from one seed:
// training steps of the MLP and of a tiny U-Net give the same losses, an exact-divergence NLL and
// a Hutchinson bits/dim agree, and a checkpoint written from one device loads on the other.
// Tolerances: 1e-4 relative. Both devices compute every op to fp32 accuracy (test_backend_ops);
// the differences are summation orders, which grow slowly through 20 Adam steps or an adaptive
// solve, far below 1e-4 in a correct backend and far above it in a wrong one.
//
// Suite 'gpu': without a usable CUDA device it prints why and exits 77 (skipped).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>

#include "cuda/device.h"
#include "flow/trainer.h"
#include "nn/checkpoint.h"
#include "nn/mlp.h"
#include "nn/unet.h"
#include "ode/bpd.h"
#include "ode/evaluate.h"
#include "test_util.h"
#include "tests/gpu_main.h"

using namespace fm;

namespace {

std::vector<double> train_losses(FieldModel& model, Dataset& data, TrainOptions opt, Device device, int steps) {
  model.to(device);
  CondOTPath path;
  Trainer trainer(model, path, data, opt);
  std::vector<double> losses;
  for (int s = 0; s < steps; ++s) losses.push_back(trainer.step().loss);
  return losses;
}

void check_close(const std::vector<double>& gpu, const std::vector<double>& cpu, double rel) {
  REQUIRE(gpu.size() == cpu.size());
  for (size_t i = 0; i < cpu.size(); ++i) {
    CAPTURE(i);
    CHECK(std::fabs(gpu[i] - cpu[i]) <= rel * std::fabs(cpu[i]));
  }
}

TrainOptions small_run(int64_t batch) {
  TrainOptions opt;
  opt.steps = 20, opt.batch = batch, opt.lr = 1e-3, opt.warmup = 5, opt.seed = 7;
  return opt;
}

}  // namespace

TEST_CASE("gpu runs: 20 MLP training steps give the CPU's losses") {
  std::unique_ptr<Dataset> data = open_dataset("checkerboard");
  std::vector<double> losses[2];
  for (Device d : {Device::CPU, Device::CUDA}) {
    Rng init(3);
    MlpField model(2, 128, 4, init);
    losses[d == Device::CUDA] = train_losses(model, *data, small_run(512), d, 20);
  }
  check_close(losses[1], losses[0], 1e-4);
}

TEST_CASE("gpu runs: 20 steps of a tiny U-Net give the CPU's losses") {
  const UNetConfig cfg = fm::testing::tiny_unet_config();
  std::unique_ptr<Dataset> data = image_dataset("random", fm::testing::random_pixels({64, 1, 8, 8}, 4));
  std::vector<double> losses[2];
  for (Device d : {Device::CPU, Device::CUDA}) {
    Rng init(5);
    UNetField model(cfg, init);
    TrainOptions opt = small_run(16);
    opt.ema = 0.999;
    losses[d == Device::CUDA] = train_losses(model, *data, opt, d, 20);
  }
  check_close(losses[1], losses[0], 1e-4);
}

TEST_CASE("gpu runs: exact NLL and Hutchinson bits/dim agree with the CPU's") {
  Rng init(6);
  MlpField mlp(2, 64, 3, init);
  Tensor x = Tensor::empty({200, 2});
  Rng(7).normal(x);
  double nll[2];
  for (Device d : {Device::CPU, Device::CUDA}) {
    mlp.to(d);
    SolveRun run = evaluate_logp(mlp, x, FlowSolveOptions{}, 100, /*seed=*/8);
    nll[d == Device::CUDA] = -mean_stderr(run.logp).mean;
  }
  CHECK(std::fabs(nll[1] - nll[0]) <= 1e-4 * std::fabs(nll[0]));

  Rng uinit(9);
  UNetField unet(fm::testing::tiny_unet_config(), uinit);
  const Tensor pixels = fm::testing::random_pixels({6, 1, 8, 8}, 10);
  double bpd[2];
  for (Device d : {Device::CPU, Device::CUDA}) {
    unet.to(d);
    FlowSolveOptions opt;
    opt.divergence = Divergence::Hutchinson;
    // RK4 with fixed steps: the same steps on both devices (dopri5's accept/reject is covered by
    // the MLP above), and few enough field evaluations for the emulated GPU.
    opt.ode.method = Method::RK4;
    opt.ode.steps = 8;
    // The same dequantisation noise and probes on both devices (Philox), from seed 11's chunk streams.
    BpdResult r = image_bpd(field_of(unet), pixels.to(d), opt, 1, 6, /*seed=*/11);
    bpd[d == Device::CUDA] = mean_stderr(r.bpd).mean;
  }
  CHECK(std::fabs(bpd[1] - bpd[0]) <= 1e-4 * std::fabs(bpd[0]));
}

TEST_CASE("gpu runs: a checkpoint written from the GPU loads on the CPU and back") {
  fm::testing::TempDir tmp("fm_gpu_ckpt");
  Rng init(12);
  MlpField model(2, 32, 3, init);
  model.to(Device::CUDA);
  std::vector<NamedTensor> weights;
  for (const Param& p : model.parameters()) weights.push_back({p.name, p.var.value()});
  save_checkpoint(tmp.path("m.safetensors"), model, weights, 1);
  LoadedModel lm = load_checkpoint(tmp.path("m.safetensors"));  // host memory
  Tensor x = Tensor::empty({50, 2}), t = Tensor::full({50}, 0.3f);
  Rng(13).normal(x);
  NoGradGuard no_grad;
  const std::vector<float> on_cpu = lm.model->forward(Var(x), t).value().to_vector();
  const std::vector<float> on_gpu = model.forward(Var(x.to(Device::CUDA)), t.to(Device::CUDA)).value().to_vector();
  REQUIRE(on_cpu.size() == on_gpu.size());
  for (size_t i = 0; i < on_cpu.size(); ++i) CHECK(on_gpu[i] == doctest::Approx(on_cpu[i]).epsilon(1e-5));
  lm.model->to(Device::CUDA);  // and back: the loaded model runs on the GPU too
  const std::vector<float> again = lm.model->forward(Var(x.to(Device::CUDA)), t.to(Device::CUDA)).value().to_vector();
  CHECK(again == on_gpu);
}

int main(int argc, char** argv) { return gpu_suite_main(argc, argv); }
