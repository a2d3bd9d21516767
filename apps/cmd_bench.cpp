// apps/cmd_bench.cpp: `fm bench`, timings reported as the median of several runs after warm-up.
//
// The rows mirror the PyTorch measurements that issue 4 compares against (same shapes):
//   matmul          sgemm n x n x n, in GFLOP/s
//   mlp-train       MLP field: forward + backward + Adam at batch 4096 and 1024
//   mlp-field       one likelihood evaluation: forward + exact divergence (D VJPs), batch 10000
//   unet-train      U-Net ch 32 and ch 16: a whole fm-train step (forward, backward, clip, Adam, EMA)
//   unet-forward    U-Net ch 32 forward, no graph
//   unet-field      U-Net ch 32 and ch 16 forward + one VJP w.r.t. the input (one Hutchinson
//                   evaluation of the likelihood ODE's right-hand side)
//   allreduce       one data-parallel step's gradient all-reduce (dist/grad_sync.h) of the U-Net
//                   ch 32 and of the MLP; the one group that runs under mpirun (it needs N > 1)
//   peak            the CPU's arithmetic limit: a register-only FMA loop on every thread
//                   (tensor/cpu/fma_peak.h), measured at the start of every CPU bench
// Each row prints its GFLOP/s (the flops of its matrix products and convolutions, counted by the
// op list) and, on the CPU, that as a fraction of the measured peak and its parallel jobs (fork-
// joins: the points where a thread that the machine slowed down holds up the others); on a GPU
// its kernel launches. And the process's peak resident memory so far (run one row with --only
// to read that row's own peak). --profile prints the time per op kind of MLP and U-Net training
// steps and U-Net likelihood evaluations (--only mlp-train or unet-... for one of them).
// --scaling times the training step over a range of batches (samples per second, peak tensor
// memory). --busy N runs N spinning processes beside the rows: fm on a machine it shares.
// Speed is measured here, never asserted in tests.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>

#include "apps/commands.h"
#include "apps/common.h"
#include "autodiff/ops.h"
#include "cuda/device.h"
#include "dist/dist.h"
#include "dist/grad_sync.h"
#include "flow/coupling.h"
#include "flow/loss.h"
#include "flow/path.h"
#include "flow/toy2d.h"
#include "flow/trainer.h"
#include "nn/mlp.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "nn/unet.h"
#include "ode/evaluate.h"
#include "ode/likelihood.h"
#include "tensor/allocator.h"
#include "tensor/cpu/fma_peak.h"
#include "tensor/cpu/gemm.h"
#include "tensor/cpu/thread_pool.h"
#include "tensor/profile.h"

namespace fm {

namespace {

// The device the rows run on: each timed run ends when that device is done (GPU ops are queued).
Device bench_device = Device::CPU;

// Median wall time in milliseconds of `reps` runs of fn after `warmup` untimed runs.
double median_ms(const std::function<void()>& fn, int warmup, int reps) {
  for (int i = 0; i < warmup; ++i) fn();
  synchronize(bench_device);
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    synchronize(bench_device);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;  // Linux reports KiB
}

// What one run of a row does: its flops (tensor/profile.h), and its parallel jobs on the CPU
// (tensor/cpu/thread_pool.h) or its kernel launches on a GPU (-1: not counted).
struct RunCounts {
  double gflop = 0.0;
  int64_t jobs = -1, launches = -1;
};

struct Report {
  bool json;
  double peak_gflops = 0.0;  // the CPU's measured FMA peak; 0 on a GPU
  // `extra`: further fields of the row (JSON), printed after the name as "key value" (text).
  void row(const std::string& name, double ms, const RunCounts& c, const ResultFields& extra = {}) const {
    if (!dist::is_root()) return;  // under mpirun (the allreduce group), rank 0 reports
    const double gflops = c.gflop > 0 ? c.gflop / (ms * 1e-3) : 0.0, rss = peak_rss_mib();
    const double of_peak = peak_gflops > 0 && gflops > 0 ? gflops / peak_gflops : 0.0;
    if (json) {
      ResultFields f{{"name", name}, {"ms", ms}};
      if (gflops > 0) f.push_back({"gflops", gflops});
      if (of_peak > 0) f.push_back({"peak_fraction", of_peak});
      if (c.jobs >= 0) f.push_back({"jobs", double(c.jobs)});
      if (c.launches >= 0) f.push_back({"launches", double(c.launches)});
      f.insert(f.end(), extra.begin(), extra.end());
      f.push_back({"peak_rss_mib", rss});
      std::printf("%s\n", json_line(f).c_str());
    } else {
      std::printf("%-30s %9.2f ms", name.c_str(), ms);
      if (gflops > 0) std::printf(" %8.1f GFLOP/s", gflops);
      if (of_peak > 0) std::printf(" %5.1f %% of peak", 100.0 * of_peak);
      if (c.jobs >= 0) std::printf(" %6lld jobs", (long long)c.jobs);
      if (c.launches >= 0) std::printf(" %6lld launches", (long long)c.launches);
      for (const auto& [key, value] : extra) std::printf("  %s %s", key.c_str(), to_json(value).c_str());
      std::printf("   (peak RSS %.0f MiB)\n", rss);
    }
    std::fflush(stdout);
  }
};

// --busy N: N child processes that spin until the bench ends (or dies: PR_SET_PDEATHSIG), so
// that anyone can see how fm behaves on a machine it shares with other programs.
class BusyHelpers {
 public:
  explicit BusyHelpers(int n) {
    for (int i = 0; i < n; ++i) {
      const pid_t pid = fork();
      if (pid < 0) throw std::runtime_error("fm bench --busy: cannot start a helper process");
      if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        volatile uint64_t spin = 0;
        for (;;) {
          const uint64_t next = spin + 1;
          spin = next;
        }
      }
      pids_.push_back(pid);
    }
  }
  ~BusyHelpers() {
    for (pid_t pid : pids_) kill(pid, SIGKILL);
    for (pid_t pid : pids_) waitpid(pid, nullptr, 0);
  }
  BusyHelpers(const BusyHelpers&) = delete;
  BusyHelpers& operator=(const BusyHelpers&) = delete;

 private:
  std::vector<pid_t> pids_;
};

// Fixed random images in [-1, 1], standing in for Fashion-MNIST (the work per step is the same).
std::unique_ptr<Dataset> random_images(const UNetConfig& c, int64_t n, Rng& rng) {
  Tensor pixels = Tensor::empty({n, c.in_channels, c.height, c.width});
  rng.uniform(pixels, -1, 1);
  return tensor_dataset("random images", pixels);
}

// fm train's image defaults: batch 64, Adam 2e-4, clip 1, EMA 0.9999.
TrainOptions image_train_options() {
  TrainOptions opt;
  opt.batch = 64, opt.lr = 2e-4, opt.warmup = 0, opt.clip = 1.0, opt.ema = 0.9999, opt.schedule = "constant";
  opt.steps = 1000000;
  return opt;
}

// One evaluation of the likelihood ODE's right-hand side: Euler with one step is exactly one
// evaluation of [v, div v] (exact: D VJPs; Hutchinson: one VJP per probe).
FlowSolveOptions one_evaluation(Divergence div) {
  FlowSolveOptions opt;
  opt.ode.method = Method::Euler;
  opt.ode.steps = 1;
  opt.divergence = div;
  return opt;
}

// Runs fn `reps` times with the profiler on and prints the time per op kind; what the ops do not
// account for (graph bookkeeping, freeing, the trainer's own work) is the "outside ops" row.
void print_profile(const std::string& what, int reps, const std::function<void()>& fn, bool json) {
  profile::reset();
  profile::enable(true);
  const int64_t jobs0 = pool_stats().jobs;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) fn();
  const double wall = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const int64_t jobs = pool_stats().jobs - jobs0;
  profile::enable(false);
  std::vector<profile::Row> rows = profile::rows();
  double inside = 0;
  int64_t inside_jobs = 0;
  for (const profile::Row& r : rows) inside += r.ms, inside_jobs += r.jobs;
  rows.push_back({"(outside ops)", wall - inside, reps, jobs - inside_jobs});
  const double total = wall;
  if (!json)
    std::printf("\nprofile of %s: %.1f ms in all, %.1f ms and %lld parallel jobs each\n", what.c_str(), total, total / reps,
                static_cast<long long>(jobs / reps));
  for (const profile::Row& r : rows) {
    if (json)
      std::printf("%s\n", json_line({{"profile", what}, {"op", r.name}, {"ms", r.ms}, {"calls", double(r.calls)},
                                     {"jobs", double(r.jobs)}, {"percent", 100.0 * r.ms / total}}).c_str());
    else
      std::printf("  %-28s %9.2f ms %6.1f %%  %5lld calls %6lld jobs\n", r.name.c_str(), r.ms, 100.0 * r.ms / total,
                  static_cast<long long>(r.calls), static_cast<long long>(r.jobs));
  }
}

// One step's all-reduce of the gradients of the Fashion-MNIST U-Net ch 32 and of the MLP 512 x 5,
// as the trainer does it (GradSync: pack into buckets, sum over the ranks, scale, views back).
void bench_allreduce(Device device, const Report& report, int warm, int reps, Rng& rng) {
  UNetConfig unet;
  unet.channels = 32;
  const std::pair<std::string, Json> models[] = {{"unet ch32", unet_config_json(unet)}, {"mlp 512x5", mlp_config(2, 512, 5)}};
  for (const auto& [name, config] : models) {
    std::unique_ptr<FieldModel> model = make_model(config, rng);
    std::vector<Shape> shapes;
    std::vector<Tensor> grads;
    int64_t floats = 0;
    for (const Param& p : model->parameters()) {
      shapes.push_back(p.var.shape());
      grads.push_back(Tensor::empty(p.var.shape(), device));
      rng.uniform(grads.back(), -1, 1);
      floats += p.var.value().numel();
    }
    dist::GradSync sync(shapes, device);
    std::vector<Tensor> work = grads;
    std::vector<Tensor*> slots;
    for (Tensor& g : work) slots.push_back(&g);
    const Tensor loss = Tensor::full({}, 1.0f, device);
    const double ms = median_ms([&] {
      work = grads;  // average() replaced them by views of its buckets
      sync.average(slots, loss);
    }, warm, reps);
    const std::string ranks = dist::size() == 1 ? "1 process: nothing to sum" : std::to_string(dist::size()) + " processes";
    char label[160];
    std::snprintf(label, sizeof label, "allreduce %s (%.1f MiB, %lld bucket%s, %s)", name.c_str(), double(floats) * 4.0 / 1048576.0,
                  (long long)sync.buckets(), sync.buckets() == 1 ? "" : "s", ranks.c_str());
    report.row(label, ms, RunCounts{});
  }
}


// A bench session: where and how often each row runs, and how it is reported.
struct Bench {
  Device device;
  Report report;
  int warm, reps;
  bool prof;         // --profile: the time per op kind instead of the rows
  std::string only;  // --only
  Rng rng{1};

  bool run(const std::string& group) const { return !prof && (only.empty() || only == group) && group != "peak"; }
  bool profiles(const std::string& prefix) const { return prof && (only.empty() || only.rfind(prefix, 0) == 0); }
  // What one more run of fn does (RunCounts).
  RunCounts count(const std::function<void()>& fn) const {
    const double flops = profile::flops();
    const int64_t jobs = pool_stats().jobs, launches = device == Device::CUDA ? cuda::launch_count() : 0;
    fn();
    synchronize(device);
    RunCounts c;
    c.gflop = (profile::flops() - flops) * 1e-9;
    if (device == Device::CUDA) c.launches = cuda::launch_count() - launches;
    else c.jobs = pool_stats().jobs - jobs;
    return c;
  }
  // A row: the median time of `fn`, and what one more run does; under --profile, the time per op
  // kind of `reps` runs instead.
  void row(const std::string& name, const std::function<void()>& fn, const std::string& unit = "steps") {
    if (prof) {
      for (int i = 0; i < warm; ++i) fn();
      return print_profile(name + " (" + std::to_string(reps) + " " + unit + ")", reps, fn, report.json);
    }
    const double ms = median_ms(fn, warm, reps);
    report.row(name, ms, count(fn));
  }
};

void bench_matmul(Bench& b, int64_t n) {
  Tensor x = Tensor::empty({n, n}, b.device), y = Tensor::empty({n, n}, b.device), z = Tensor::empty({n, n}, b.device);
  b.rng.uniform(x, -1, 1);
  b.rng.uniform(y, -1, 1);
  b.row("matmul " + std::to_string(n), [&] { matmul_into(x, y, false, false, 0.0f, z); });
}

// The OT coupling of the main job's batch (--coupling ot): a fresh batch of each toy data set and
// Gaussian noise per run, re-paired in blocks of 64 (the default) and as a whole (the auction),
// as the trainer does before each step. Host work on the CPU threads, whatever the device.
void bench_ot(Bench& b, int64_t n) {
  CouplingWorkspace ws;
  for (int64_t block : {int64_t(64), int64_t(0)})
    for (const char* data : {"checkerboard", "8gaussians", "moons"}) {
      b.row(std::string("ot ") + data + " B=" + std::to_string(n) + (block > 0 ? " by " + std::to_string(block) : " whole"), [&] {
        Tensor x1 = sample_toy2d(data, n, b.rng), x0 = Tensor::empty({n, 2});
        b.rng.normal(x0);
        ot_noise_order(x0, x1, {}, block, ws);
      }, "pairings");
    }
}

// The MLP D -> W x (L - 2) -> D: training steps at each batch of `batches` (--profile: the first)
// and one likelihood evaluation of `eval_batch` points.
void bench_mlp(Bench& b, int64_t D, int64_t W, int64_t L, const std::vector<int64_t>& batches, int64_t eval_batch) {
  std::unique_ptr<FieldModel> model = make_model(mlp_config(D, W, L), b.rng);
  model->to(b.device);
  std::vector<Param> params = model->parameters();
  for (int64_t B : b.run("mlp-train") || b.profiles("mlp-train") ? batches : std::vector<int64_t>{}) {
    Tensor x1 = Tensor::empty({B, D}, b.device);
    b.rng.normal(x1);
    CondOTPath path;
    FlowBatch fb;
    Adam adam(params, AdamOptions{});
    b.row("mlp train_step B=" + std::to_string(B), [&] {
      make_flow_batch(path, x1, b.rng, fb);
      Var loss = cfm_loss(*model, fb);
      zero_grad(params);
      backward(loss);
      adam.step(1e-4);
    });
    if (b.prof) break;  // one batch size is enough to see where the time goes
  }
  if (!b.run("mlp-field")) return;
  Tensor x1 = Tensor::empty({eval_batch, D}, b.device);
  b.rng.normal(x1);
  const FlowSolveOptions opt = one_evaluation(Divergence::Exact);
  b.row("mlp field exact-div B=" + std::to_string(eval_batch), [&] { log_likelihood(field_of(*model), x1, opt, b.rng); });
}

// The Fashion-MNIST U-Net (1 x 28 x 28) of `ch` channels at batch IB: a training step, a forward
// pass (the first of `channels` only) and one Hutchinson likelihood evaluation (forward + VJP).
void bench_unet(Bench& b, int64_t ch, int64_t IB, bool forward) {
  UNetConfig cfg;
  cfg.channels = ch;
  std::unique_ptr<FieldModel> model = make_model(unet_config_json(cfg), b.rng);
  model->to(b.device);
  const std::string tag = "unet ch" + std::to_string(ch) + " ", bs = " B=" + std::to_string(IB);
  if (b.prof || b.run("unet-train")) {
    std::unique_ptr<Dataset> data = random_images(cfg, 4 * IB, b.rng);
    CondOTPath path;
    TrainOptions opt = image_train_options();
    opt.batch = IB;
    Trainer trainer(*model, path, *data, opt);
    b.row(tag + "train_step" + bs, [&] { trainer.step(); });
  }
  Tensor x = Tensor::empty({IB, cfg.in_channels, cfg.height, cfg.width}, b.device);
  b.rng.uniform(x, -1, 1);
  if (forward && b.run("unet-forward")) {
    Tensor t = Tensor::full({IB}, 0.5f, b.device);
    b.row(tag + "forward" + bs, [&] {
      NoGradGuard no_grad;
      model->forward(Var(x), t);
    });
  }
  if (b.prof || b.run("unet-field")) {
    const FlowSolveOptions opt = one_evaluation(Divergence::Hutchinson);
    b.row(tag + "forward+vjp" + bs, [&] { log_likelihood(field_of(*model), x, opt, b.rng); }, "evaluations");
  }
}

// --scaling: training steps over a range of batches, to see whether a larger batch is slower per
// sample: the MLP at B = 256 ... 8192 and the U-Net ch 16 at B = 16 ... 256, each with its samples
// per second and the peak of tensor memory in use during its runs (weights and optimizer state
// included).
void bench_scaling(Bench& b, int64_t D, int64_t W, int64_t L) {
  auto scaling_row = [&](const std::string& name, int64_t B, const std::function<void()>& step) {
    reset_peak_memory();
    const double ms = median_ms(step, b.warm, b.reps);
    const RunCounts c = b.count(step);
    const double mib = double(allocator_stats().peak_bytes) / 1048576.0;
    b.report.row(name, ms, c, {{"samples/s", std::round(double(B) / (ms * 1e-3))}, {"tensor_MiB", std::round(mib)}});
  };
  std::unique_ptr<FieldModel> mlp = make_model(mlp_config(D, W, L), b.rng);
  mlp->to(b.device);
  std::vector<Param> params = mlp->parameters();
  Adam adam(params, AdamOptions{});
  for (int64_t B = 256; B <= 8192; B *= 2) {
    Tensor x1 = Tensor::empty({B, D}, b.device);
    b.rng.normal(x1);
    CondOTPath path;
    FlowBatch fb;
    scaling_row("mlp train_step B=" + std::to_string(B), B, [&] {
      make_flow_batch(path, x1, b.rng, fb);
      Var loss = cfm_loss(*mlp, fb);
      zero_grad(params);
      backward(loss);
      adam.step(1e-4);
    });
  }
  mlp.reset();
  UNetConfig cfg;
  cfg.channels = 16;
  for (int64_t B = 16; B <= 256; B *= 2) {
    std::unique_ptr<FieldModel> unet = make_model(unet_config_json(cfg), b.rng);
    unet->to(b.device);
    std::unique_ptr<Dataset> data = random_images(cfg, 2 * B, b.rng);
    CondOTPath path;
    TrainOptions opt = image_train_options();
    opt.batch = B;
    Trainer trainer(*unet, path, *data, opt);
    scaling_row("unet ch16 train_step B=" + std::to_string(B), B, [&] { trainer.step(); });
  }
}

// The first line: threads, kernels, devices, and the CPU's FMA peak when it was measured.
void print_header(const Bench& b, const cpu::FmaPeak& peak, int busy) {
  if (b.report.json || !dist::is_root()) return;
  std::printf("fm bench: %d threads, sgemm kernel %s", num_threads(), cpu::sgemm_kernel_name());
  if (peak.gflops > 0) std::printf(", FMA peak %.1f GFLOP/s (%s, %d threads)", peak.gflops, peak.isa, peak.threads);
  if (busy > 0) std::printf(", %d busy process%s beside it", busy, busy == 1 ? "" : "es");
  std::printf("; %s\n", cuda::describe().c_str());
}

void declare_bench_options(Args& args) {
  args.opt("--only", "", "one group: peak, matmul, mlp-train, mlp-field, unet-train, unet-forward, unet-field, ot or allreduce "
                         "(under mpirun: allreduce only)")
      .opt("--channels", "", "U-Net base channels for the unet rows (default: both 32 and 16)")
      .opt("--batch", "", "MLP training batch (default: 4096 and 1024)")
      .opt("--eval-batch", "10000", "batch of the MLP likelihood evaluation")
      .opt("--ot-batch", "2048", "points per pairing of the ot rows")
      .opt("--image-batch", "64", "U-Net batch")
      .opt("--dim", "2", "MLP data dimension D")
      .opt("--width", "512", "MLP width")
      .opt("--depth", "5", "MLP depth (Linear layers)")
      .opt("--size", "1024", "matmul size n (n x n x n)")
      .opt("--reps", "10", "timed runs (the median is reported)")
      .opt("--warmup", "2", "untimed runs first")
      .opt("--busy", "0", "run N spinning processes beside the rows (fm on a machine shared with other programs)")
      .flag("--scaling", "training steps over a range of batches instead of the rows: MLP B = 256 ... 8192, U-Net ch 16 B = 16 ... 256")
      .flag("--profile", "print the time per op kind of MLP and U-Net training steps and U-Net likelihood evaluations (U-Net: --channels, default 32)")
      .flag("--json", "one JSON line per result on stdout");
  add_device_option(args);
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  Args args("fm bench", "Time training steps, likelihood evaluations and matmul (median of --reps runs).");
  declare_bench_options(args);
  if (!args.parse(argc, argv, 2)) return 0;
  const std::string only = args.str("--only");
  const std::vector<std::string> groups{"peak",       "matmul",       "mlp-train",  "mlp-field", "unet-train",
                                        "unet-forward", "unet-field", "ot", "allreduce"};
  if (!only.empty() && std::find(groups.begin(), groups.end(), only) == groups.end())
    throw UsageError("--only must be one of peak, matmul, mlp-train, mlp-field, unet-train, unet-forward, unet-field, ot, allreduce");
  if (dist::size() > 1 && only != "allreduce")
    throw UsageError("under mpirun only --only allreduce runs (the other rows time one process)");
  const int64_t busy = args.i64("--busy");
  if (busy < 0 || busy > 256) throw UsageError("--busy must be between 0 and 256 processes");
  if (args.i64("--ot-batch") < 1) throw UsageError("--ot-batch must be at least 1");
  if (only == "ot" && args.on("--profile")) throw UsageError("--profile times the ops, and the ot rows run none: leave out --profile");
  const bool scaling = args.on("--scaling");
  if (scaling && (!only.empty() || args.on("--profile"))) throw UsageError("--scaling runs its own rows: leave out --only and --profile");
  Bench b{bench_device = device_option(args), Report{args.on("--json")}, static_cast<int>(std::max<int64_t>(0, args.i64("--warmup"))),
          static_cast<int>(std::max<int64_t>(1, args.i64("--reps"))), args.on("--profile"), only};
  // The peak is measured before any helper starts: the fraction is of the machine's own limit.
  cpu::FmaPeak peak;
  if (b.device == Device::CPU && only != "allreduce") peak = cpu::measure_fma_peak();
  b.report.peak_gflops = peak.gflops;
  print_header(b, peak, int(busy));
  if (only == "peak") {
    if (b.report.json)
      std::printf("%s\n", json_line({{"name", "fma peak"}, {"gflops", peak.gflops}, {"isa", peak.isa}, {"threads", double(peak.threads)}}).c_str());
    return 0;
  }
  const BusyHelpers helpers(static_cast<int>(busy));
  if (scaling) {
    bench_scaling(b, args.i64("--dim"), args.i64("--width"), args.i64("--depth"));
    return 0;
  }
  if (b.run("allreduce")) bench_allreduce(b.device, b.report, b.warm, b.reps, b.rng);
  if (b.run("matmul")) bench_matmul(b, args.i64("--size"));
  std::vector<int64_t> batches{4096, 1024}, channels{32, 16};
  if (!args.str("--batch").empty()) batches = {args.i64("--batch")};
  if (b.run("mlp-train") || b.run("mlp-field") || b.profiles("mlp-train"))
    bench_mlp(b, args.i64("--dim"), args.i64("--width"), args.i64("--depth"), batches, args.i64("--eval-batch"));
  if (!args.str("--channels").empty()) channels = {args.i64("--channels")};
  else if (b.prof) channels = {32};
  if (b.profiles("unet") || b.run("unet-train") || b.run("unet-forward") || b.run("unet-field"))
    for (int64_t ch : channels) bench_unet(b, ch, args.i64("--image-batch"), ch == channels.front());
  if (b.run("ot")) bench_ot(b, args.i64("--ot-batch"));
  return 0;
}

}  // namespace fm
