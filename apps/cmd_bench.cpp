// apps/cmd_bench.cpp: `fm bench`, timings reported as the median of several runs after warm-up.
//   train_step : forward + backward + Adam for the MLP field at --batch
//   field_eval : one likelihood function evaluation: forward + exact divergence (D VJPs)
//   matmul     : sgemm of --size^3, in GFLOP/s
// Speed is measured here, never asserted in tests.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>

#include "apps/commands.h"
#include "apps/common.h"
#include "autodiff/ops.h"
#include "flow/loss.h"
#include "flow/path.h"
#include "nn/mlp.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "tensor/gemm.h"
#include "tensor/parallel.h"
#include "cuda/device.h"

namespace fm {

namespace {

// Median wall time in milliseconds of `reps` runs of fn after `warmup` untimed runs.
double median_ms(const std::function<void()>& fn, int warmup, int reps) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

struct Report {
  bool json;
  void row(const std::string& name, double ms, double gflop) const {
    double gflops = gflop > 0 ? gflop / (ms * 1e-3) : 0.0;
    if (json) {
      std::vector<std::pair<std::string, Json>> f{{"name", name}, {"ms", ms}};
      if (gflop > 0) f.push_back({"gflops", gflops});
      std::printf("%s\n", json_line(f).c_str());
    } else if (gflop > 0) {
      std::printf("%-34s %10.2f ms %10.1f GFLOP/s\n", name.c_str(), ms, gflops);
    } else {
      std::printf("%-34s %10.2f ms\n", name.c_str(), ms);
    }
    std::fflush(stdout);
  }
};

}  // namespace

int cmd_bench(int argc, char** argv) {
  Args args("fm bench", "Time a training step, a likelihood function evaluation and matmul (median of --reps runs).");
  args.opt("--only", "", "run one benchmark: train, field or matmul")
      .opt("--batch", "4096", "training batch")
      .opt("--eval-batch", "10000", "batch of the likelihood function evaluation")
      .opt("--dim", "2", "data dimension D")
      .opt("--width", "512", "MLP width")
      .opt("--depth", "5", "MLP depth (Linear layers)")
      .opt("--size", "1024", "matmul size n (n x n x n)")
      .opt("--reps", "10", "timed runs (the median is reported)")
      .opt("--warmup", "2", "untimed runs first")
      .flag("--json", "one JSON line per result on stdout");
  if (!args.parse(argc, argv, 2)) return 0;
  const std::string only = args.str("--only");
  if (!only.empty() && only != "train" && only != "field" && only != "matmul")
    throw UsageError("--only must be train, field or matmul");
  const int reps = static_cast<int>(std::max<int64_t>(1, args.i64("--reps")));
  const int warm = static_cast<int>(std::max<int64_t>(0, args.i64("--warmup")));
  const int64_t D = args.i64("--dim"), W = args.i64("--width"), L = args.i64("--depth");
  Report report{args.on("--json")};
  if (!report.json)
    std::printf("fm bench: %d OpenMP threads, sgemm kernel %s; %s\n", num_threads(), sgemm_kernel_name(),
                cuda::describe().c_str());

  Rng rng(1);
  std::unique_ptr<FieldModel> model = make_model(mlp_config(D, W, L), rng);
  std::vector<Param> params = model->parameters();
  // Multiply-adds of one forward pass per sample: sum over layers of in * out.
  double macs = double(D + 1) * W + double(L - 2) * W * W + double(W) * D;

  if (only.empty() || only == "train") {
    const int64_t B = args.i64("--batch");
    Tensor x1 = Tensor::empty({B, D});
    rng.normal(x1);
    CondOTPath path;
    FlowBatch fb;
    Adam adam(params, AdamOptions{});
    double ms = median_ms([&] {
      make_flow_batch(path, x1, rng, fb);
      Var loss = cfm_loss(*model, fb);
      zero_grad(params);
      backward(loss);
      adam.step(1e-4);
    }, warm, reps);
    // forward 2 flops per MAC; backward twice that (dX and dW).
    report.row("train_step mlp B=" + std::to_string(B), ms, 6.0 * macs * double(B) * 1e-9);
  }
  if (only.empty() || only == "field") {
    const int64_t B = args.i64("--eval-batch");
    Tensor x1 = Tensor::empty({B, D});
    rng.normal(x1);
    FlowSolveOptions opt;
    opt.ode.method = Method::Euler;
    opt.ode.steps = 1;  // one step of Euler = exactly one evaluation of [v, div v]
    double ms = median_ms([&] { log_likelihood(field_of(*model), x1, opt, rng); }, warm, reps);
    // forward (2 flops/MAC) + D input-VJPs (2 flops/MAC each).
    report.row("field_eval exact-div B=" + std::to_string(B), ms, (2.0 + 2.0 * double(D)) * macs * double(B) * 1e-9);
  }
  if (only.empty() || only == "matmul") {
    const int64_t n = args.i64("--size");
    Tensor a = Tensor::empty({n, n}), b = Tensor::empty({n, n}), c = Tensor::empty({n, n});
    rng.uniform(a, -1, 1);
    rng.uniform(b, -1, 1);
    double ms = median_ms([&] { sgemm(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n); },
                          warm, reps);
    report.row("matmul " + std::to_string(n), ms, 2.0 * double(n) * n * n * 1e-9);
  }
  return 0;
}

}  // namespace fm
