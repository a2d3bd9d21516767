// apps/cmd_train.cpp: `fm train`, conditional flow matching end to end.
//
// Each step: draw data x1 and noise x0, a time t ~ U[0, 1], build x_t and the path's target
// u_t, regress v(x_t, t) onto u_t (MSE), backpropagate, clip, take an Adam step, update the EMA.
// The model follows the data: flat samples (N x D) train the MLP, images [C, H, W] the U-Net,
// with defaults suited to each (kKindDefaults).
// Every --ckpt-every steps and at the end it writes DIR/model.safetensors (the EMA weights) and
// DIR/train_state.safetensors (everything the next step depends on, and the run's options), from
// which `--resume DIR` continues bitwise as if the run had never stopped. Also loss.csv, and at
// the end: for points a picture of model samples beside data samples and, for 2-D data, the
// exact NLL of fresh data next to the true entropy; for images an 8x8 grid of samples (also
// drawn every --sample-every steps while training).
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "apps/commands.h"
#include "apps/common.h"
#include "apps/progress.h"
#include "apps/train_images.h"
#include "flow/dataset.h"
#include "flow/toy2d.h"
#include "flow/trainer.h"
#include "nn/checkpoint.h"
#include "nn/mlp.h"
#include "nn/model.h"

namespace fm {

namespace {

// Defaults that depend on the kind of data. Images follow the usual small-U-Net recipe
// (batch 64, constant 2e-4 after warm-up, EMA 0.9999); the exact NLL of images would need one
// VJP per pixel, so it is left to `fm nll`.
struct KindDefault {
  const char* flag;
  const char* points;
  const char* images;
};
constexpr KindDefault kKindDefaults[] = {
    {"--steps", "2600", "2000"}, {"--batch", "2048", "64"},  {"--lr", "2e-3", "2e-4"},  {"--schedule", "cosine", "constant"},
    {"--warmup", "100", "500"},  {"--ema", "0.999", "0.9999"}, {"--eval-n", "2000", "0"}};

const KindDefault& kind_default(const std::string& flag) {
  for (const KindDefault& d : kKindDefaults)
    if (flag == d.flag) return d;
  throw std::logic_error("no kind default for " + flag);
}

// An option declared without a default; its help shows both.
void kind_opt(Args& a, const char* flag, const std::string& help) {
  const KindDefault& d = kind_default(flag);
  a.opt(flag, "", help + " (default: " + d.points + " for points, " + d.images + " for images)");
}

std::string kind_str(const Args& a, const char* flag, bool images) {
  if (a.given(flag)) return a.str(flag);
  const KindDefault& d = kind_default(flag);
  return images ? d.images : d.points;
}
int64_t kind_i64(const Args& a, const char* flag, bool images) {
  return a.given(flag) ? a.i64(flag) : std::stoll(kind_str(a, flag, images));
}
double kind_f64(const Args& a, const char* flag, bool images) {
  return a.given(flag) ? a.f64(flag) : std::stod(kind_str(a, flag, images));
}

void add_train_options(Args& a) {
  a.opt("--data", "checkerboard",
        "a 2-D toy (checkerboard, 8gaussians, moons, circles, swissroll, 2spirals, pinwheel, rings), an image set "
        "(fashion-mnist, mnist), an IDX image file or a .npy/.csv file of N x D samples")
      .opt("--split", "train", "image sets: train or test")
      .opt("--data-dir", "", "image sets: directory of the IDX files (default for fashion-mnist: " +
                                 std::string(kFashionMnistDir) + ")")
      .flag("--hflip", "images: mirror each drawn image left-right with probability 1/2");
  kind_opt(a, "--steps", "training steps (with --resume, a larger value extends the run)");
  kind_opt(a, "--batch", "samples per step");
  kind_opt(a, "--lr", "peak learning rate");
  kind_opt(a, "--schedule", "learning-rate schedule after warm-up: cosine (to zero) or constant");
  kind_opt(a, "--warmup", "linear warm-up steps");
  a.opt("--optimizer", "adam", "adam or adamw")
      .opt("--weight-decay", "", "weight decay (default: 0 for adam, 0.01 for adamw)")
      .opt("--clip", "1.0", "clip the global gradient norm to this; 0 = off");
  kind_opt(a, "--ema", "EMA decay of the weights that are saved and evaluated; 0 = off");
  a.opt("--width", "512", "points: MLP hidden width")
      .opt("--depth", "5", "points: MLP depth (number of Linear layers)")
      .opt("--channels", "32", "images: U-Net base channels")
      .opt("--mult", "1,2,2", "images: U-Net channel multiplier of each resolution level")
      .opt("--num-res", "2", "images: U-Net residual blocks per level")
      .opt("--attn-res", "7", "images: resolutions with self-attention (comma-separated; none = off)")
      .opt("--groups", "8", "images: GroupNorm groups")
      .opt("--dropout", "0", "images: dropout probability in the residual blocks")
      .opt("--path", "condot", "probability path: condot (FM w/ OT), vp or ve (diffusion paths)")
      .opt("--sigma-min", "1e-4", "sigma_min of the condot path")
      .opt("--seed", "0", "seed for initialisation, data and noise")
      .opt("--out", "", "output directory (default runs/<data>)")
      .opt("--resume", "", "continue the run in this directory from its last checkpoint, exactly as if it had not "
                           "stopped (its options come from DIR/train_state.safetensors)")
      .opt("--ckpt-every", "500", "write the checkpoint every this many steps; 0 = only at the end")
      .opt("--log-every", "10", "average the loss over this many steps per loss.csv row")
      .opt("--sample-every", "500", "images: write DIR/samples.png (64 EMA samples from fixed noise) every this many "
                                    "steps and at the end (dopri5); 0 = no grids")
      .opt("--sample-solver", "midpoint", "images: ODE solver of the grids while training (the final one uses dopri5 at 1e-5)")
      .opt("--sample-steps", "20", "images: steps of that solver");
  kind_opt(a, "--eval-n", "points: fresh data samples for the final exact NLL; 0 = skip");
  a.opt("--eval-batch", "2000", "samples per likelihood solve").flag("--json", "print the results as one JSON line on stdout");
}

// Flags that define a run. With --resume they come from the checkpoint (only --steps may extend).
const std::vector<std::string> kRunFlags = {"--data",   "--split",     "--data-dir", "--hflip",        "--batch",
                                            "--lr",     "--schedule",  "--warmup",   "--optimizer",    "--weight-decay",
                                            "--clip",   "--ema",       "--width",    "--depth",        "--path",
                                            "--sigma-min", "--seed",   "--out"};
const std::vector<std::string> kImageOnlyFlags = {"--hflip", "--sample-every", "--sample-solver", "--sample-steps"};
const std::vector<std::string> kPointOnlyFlags = {"--width", "--depth"};

void reject_given(const Args& a, const std::vector<std::string>& flags, const std::string& why) {
  for (const std::string& f : flags)
    if (a.given(f)) throw UsageError(f + " " + why);
}

// A run as train_state.safetensors stores it: what defines the training besides the trainer's
// own options and counters (Trainer::state_metadata), so that --resume needs no other flags.
struct RunSpec {
  std::string data_spec;
  DataOptions data;
  std::string path;
  double sigma_min = 1e-4;
  Json model;  // the model's config (nn/model.h)
  TrainOptions train;
  int64_t log_every = 10;
};

std::map<std::string, std::string> run_metadata(const RunSpec& r) {
  return {{"data", r.data_spec},
          {"split", r.data.split},
          {"data_dir", r.data.data_dir},
          {"hflip", r.data.hflip ? "true" : "false"},
          {"path", r.path},
          {"sigma_min", meta_number(r.sigma_min)},
          {"config", to_json(r.model)},
          {"log_every", std::to_string(r.log_every)}};
}

RunSpec run_from_metadata(const std::map<std::string, std::string>& m) {
  RunSpec r;
  r.data_spec = meta_str(m, "data");
  r.data.split = meta_str(m, "split");
  r.data.data_dir = meta_str(m, "data_dir");
  r.data.hflip = meta_str(m, "hflip") == "true";
  r.path = meta_str(m, "path");
  r.sigma_min = meta_f64(m, "sigma_min");
  r.model = parse_json(meta_str(m, "config"));
  r.train = train_options_from_metadata(m);
  r.log_every = meta_i64(m, "log_every");
  return r;
}

DataOptions data_options(const Args& a) {
  DataOptions d;
  d.split = a.str("--split");
  d.data_dir = a.str("--data-dir");
  d.hflip = a.on("--hflip");
  return d;
}

// A fresh run from the flags; the model and the defaults follow the data's kind.
RunSpec run_from_args(const Args& a, const Dataset& data, bool images) {
  RunSpec r;
  r.data_spec = a.str("--data");
  r.data = data_options(a);
  r.path = a.str("--path");
  r.sigma_min = a.f64("--sigma-min");
  const Shape shape = data.sample_shape();
  r.model = images ? unet_config_json(unet_config_from_args(a, shape)) : mlp_config(shape[0], a.i64("--width"), a.i64("--depth"));
  r.log_every = std::max<int64_t>(1, a.i64("--log-every"));

  TrainOptions& t = r.train;
  t.steps = kind_i64(a, "--steps", images);
  t.batch = kind_i64(a, "--batch", images);
  t.lr = kind_f64(a, "--lr", images);
  t.schedule = kind_str(a, "--schedule", images);
  t.warmup = kind_i64(a, "--warmup", images);
  t.clip = a.f64("--clip");
  t.ema = kind_f64(a, "--ema", images);
  t.seed = static_cast<uint64_t>(a.i64("--seed"));
  t.adam.decoupled = a.str("--optimizer") == "adamw";
  if (!t.adam.decoupled && a.str("--optimizer") != "adam") throw UsageError("--optimizer must be adam or adamw");
  t.adam.weight_decay = a.given("--weight-decay") ? a.f64("--weight-decay") : (t.adam.decoupled ? 1e-2 : 0.0);
  if (t.steps < 1 || t.batch < 1) throw UsageError("--steps and --batch must be positive");
  if (t.schedule != "cosine" && t.schedule != "constant") throw UsageError("--schedule must be cosine or constant");
  if (t.clip < 0) throw UsageError("--clip must be >= 0");
  if (!(t.lr > 0)) throw UsageError("--lr must be positive");
  if (t.ema < 0 || t.ema >= 1) throw UsageError("--ema must be in [0, 1)");
  return r;
}

// --resume DIR: the run and its saved state. Flags that define the run are refused (they come
// from the checkpoint); a larger --steps extends it.
struct Resumed {
  RunSpec run;
  SafetensorsFile state;
  int64_t step = 0;
};

Resumed load_resume(const Args& a, const std::string& dir) {
  reject_given(a, kRunFlags, "comes from the checkpoint in " + dir + " and cannot be changed with --resume");
  reject_given(a, kUNetFlags, "comes from the checkpoint in " + dir + " and cannot be changed with --resume");
  const std::string file = dir + "/train_state.safetensors";
  if (!std::filesystem::exists(file))
    throw std::runtime_error(file + " not found: --resume needs the train state that fm train writes with each checkpoint");
  Resumed r;
  r.state = load_safetensors(file);
  try {
    r.run = run_from_metadata(r.state.metadata);
    r.step = meta_i64(r.state.metadata, "step");
  } catch (const std::exception& e) {
    throw std::runtime_error(file + ": " + e.what());
  }
  if (a.given("--steps")) {
    int64_t steps = a.i64("--steps");
    if (steps < r.run.train.steps)
      throw UsageError("--steps " + std::to_string(steps) + " is below the run's " + std::to_string(r.run.train.steps) +
                       "; --resume can only extend a run");
    if (steps != r.run.train.steps && r.run.train.schedule == "cosine")
      std::fprintf(stderr, "note: the cosine schedule now decays to zero at step %lld instead of %lld\n", (long long)steps,
                   (long long)r.run.train.steps);
    r.run.train.steps = steps;
  }
  if (r.step >= r.run.train.steps)
    throw UsageError(dir + " is already trained to " + std::to_string(r.step) + " steps; pass a larger --steps to extend it");
  if (a.given("--log-every")) r.run.log_every = std::max<int64_t>(1, a.i64("--log-every"));
  return r;
}

// loss.csv: one row per `every` steps with the window's mean loss and gradient norm. The open
// window and the training time so far are saved with the train state, so after a resume the rows
// continue as in an uninterrupted run (apart from the clock).
class LossLog {
 public:
  // A fresh file, or on resume the rows up to `start` (a run that died after its last checkpoint
  // may have logged further), appended to from there.
  LossLog(const std::string& path, int64_t every, int64_t start, const std::map<std::string, std::string>* saved)
      : every_(every) {
    if (!saved) {
      f_ = std::fopen(path.c_str(), "w");
      if (!f_) throw std::runtime_error("cannot write " + path);
      std::fprintf(f_, "step,loss,lr,grad_norm,seconds\n");
      return;
    }
    loss_ = meta_f64(*saved, "log.loss");
    norm_ = meta_f64(*saved, "log.grad_norm");
    count_ = meta_i64(*saved, "log.count");
    seconds_before_ = meta_f64(*saved, "log.seconds");
    keep_rows_until(path, start);
    f_ = std::fopen(path.c_str(), "a");
    if (!f_) throw std::runtime_error("cannot append to " + path);
  }
  ~LossLog() { close(); }
  void close() {
    if (f_) std::fclose(f_);
    f_ = nullptr;
  }

  // After 1-based step `step`; a row every `every` steps and at the last one.
  void add(int64_t step, const StepStats& s, bool last, double session_seconds) {
    loss_ += s.loss;
    norm_ += s.grad_norm;
    ++count_;
    if (step % every_ != 0 && !last) return;
    last_loss_ = loss_ / double(count_);
    std::fprintf(f_, "%lld,%.6f,%.6g,%.4f,%.3f\n", (long long)step, last_loss_, s.lr, norm_ / double(count_),
                 seconds_before_ + session_seconds);
    std::fflush(f_);
    loss_ = norm_ = 0.0;
    count_ = 0;
  }
  double last_loss() const { return last_loss_; }

  std::map<std::string, std::string> state(double session_seconds) const {
    return {{"log.loss", meta_number(loss_)},
            {"log.grad_norm", meta_number(norm_)},
            {"log.count", std::to_string(count_)},
            {"log.seconds", meta_number(seconds_before_ + session_seconds)}};
  }

 private:
  static void keep_rows_until(const std::string& path, int64_t step) {
    std::ifstream in(path);
    std::string line, kept = "step,loss,lr,grad_norm,seconds\n";
    if (in && std::getline(in, line))  // skip the header
      while (std::getline(in, line)) {
        int64_t row_step = 0;
        auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), row_step);
        if (ec == std::errc() && end != line.data() && *end == ',' && row_step <= step) kept += line + "\n";
      }
    in.close();
    std::string tmp = path + ".tmp";
    std::ofstream out(tmp, std::ios::trunc);
    out << kept;
    out.close();
    if (!out) throw std::runtime_error("cannot write " + tmp);
    std::filesystem::rename(tmp, path);
  }

  FILE* f_ = nullptr;
  int64_t every_;
  double loss_ = 0.0, norm_ = 0.0, last_loss_ = 0.0, seconds_before_ = 0.0;
  int64_t count_ = 0;
};

std::string shape_text(const Shape& s) {
  std::string out;
  for (int64_t d : s) {
    if (!out.empty()) out += 'x';
    out += std::to_string(d);
  }
  return out;
}

// What `fm train` works on: the run's definition, its data, where it writes, and when resuming
// the saved state.
struct Session {
  RunSpec run;
  std::unique_ptr<Dataset> data;
  bool images = false;
  std::string out_dir;
  bool resume = false;
  SafetensorsFile state;
};

// From the flags, or from the checkpoint being resumed; refuses flags that do not apply.
Session open_session(const Args& args) {
  Session s;
  s.resume = args.given("--resume");
  if (s.resume) {
    s.out_dir = args.str("--resume");
    Resumed r = load_resume(args, s.out_dir);
    s.run = std::move(r.run);
    s.state = std::move(r.state);
    s.data = open_dataset(s.run.data_spec, s.run.data);
  } else {
    s.data = open_dataset(args.str("--data"), data_options(args));
  }
  const Shape shape = s.data->sample_shape();
  const std::string name = s.data->name();
  s.images = shape.size() == 3;
  if (!s.images && shape.size() != 1)
    throw std::runtime_error(name + ": samples of shape " + shape_str(shape) +
                             " fit neither the MLP (flat N x D data) nor the U-Net (images [C, H, W])");
  if (s.images) {
    reject_given(args, kPointOnlyFlags, "applies to the MLP; " + name + " holds images (the U-Net)");
    if (args.given("--eval-n") && args.i64("--eval-n") > 0)
      throw UsageError("--eval-n: the exact NLL of images takes one VJP per pixel; evaluate the checkpoint with fm nll");
  } else {
    reject_given(args, kUNetFlags, "applies to the U-Net; " + name + " holds flat samples (the MLP)");
    reject_given(args, kImageOnlyFlags, "applies to image data; " + name + " holds flat samples");
  }
  if (!s.resume) {
    s.run = run_from_args(args, *s.data, s.images);
    s.out_dir = args.given("--out") ? args.str("--out") : "runs/" + std::filesystem::path(s.run.data_spec).stem().string();
  }
  return s;
}

void print_header(const Session& s, const FieldModel& model, const ProbPath& path, int64_t start) {
  const Shape shape = s.data->sample_shape();
  const TrainOptions& t = s.run.train;
  if (s.images)
    std::fprintf(stderr, "fm train: %s, %s images, %s (%lld parameters), path %s, batch %lld, %lld steps -> %s\n",
                 s.data->name().c_str(), shape_text(shape).c_str(), describe_unet(unet_config_from_json(s.run.model)).c_str(),
                 (long long)model.num_parameters(), path.name().c_str(), (long long)t.batch, (long long)t.steps,
                 s.out_dir.c_str());
  else
    std::fprintf(stderr, "fm train: %s, %lld-dim, MLP %lld x %lld (%lld parameters), path %s, batch %lld, %lld steps -> %s\n",
                 s.data->name().c_str(), (long long)shape[0], (long long)s.run.model.find("width")->as_number(),
                 (long long)s.run.model.find("depth")->as_number(), (long long)model.num_parameters(), path.name().c_str(),
                 (long long)t.batch, (long long)t.steps, s.out_dir.c_str());
  if (s.resume) std::fprintf(stderr, "resuming at step %lld\n", (long long)start);
}

// Points, after training: for 2-D data a picture of model samples beside data samples, and the
// exact NLL of `eval_n` fresh samples (next to the true entropy for the toys that have one).
void evaluate_points(Session& s, const FieldModel& model, const ProbPath& path, int64_t eval_n, int64_t eval_batch,
                     std::vector<std::pair<std::string, Json>>& result) {
  const int64_t dim = s.data->sample_shape()[0];
  Rng eval_rng(derive_seed(s.run.train.seed, 3));
  if (dim == 2) {  // a picture: model samples (left) beside data (right)
    NoGradGuard no_grad;
    Tensor x0 = Tensor::empty({20000, 2});
    eval_rng.normal(x0, 0.0f, float(path.prior_std()));
    FlowSolveOptions sopt;
    sopt.ode.rtol = sopt.ode.atol = 1e-4;
    Tensor xs = sample_flow(field_of(model), x0, sopt, eval_rng, false).x;
    write_2d_comparison_png(s.out_dir + "/samples.png", xs, s.data->batch(20000, eval_rng));
    std::fprintf(stderr, "wrote %s/samples.png (model samples left, data right)\n", s.out_dir.c_str());
  }
  if (eval_n <= 0) return;
  FlowSolveOptions lopt;
  lopt.prior_std = path.prior_std();
  Tensor x = s.data->batch(eval_n, eval_rng);
  NllRun run = evaluate_logp_with_bar(model, x, lopt, eval_batch, eval_rng, "nll");
  std::vector<double> nll(run.logp.size());
  for (size_t i = 0; i < nll.size(); ++i) nll[i] = -run.logp[i];
  MeanStderr m = mean_stderr(nll);
  std::fprintf(stderr, "NLL on %lld fresh samples (exact divergence, dopri5 1e-5): %.4f +- %.4f nats (%.4f per dim), mean NFE %.0f\n",
               (long long)eval_n, m.mean, m.stderr_, m.mean / double(dim), run.mean_nfe);
  result.push_back({"nll", m.mean});
  result.push_back({"nll_stderr", m.stderr_});
  result.push_back({"nfe", run.mean_nfe});
  const std::string& spec = s.run.data_spec;
  if (toy2d_has_log_density(spec)) {
    double h = toy2d_entropy(spec);
    std::fprintf(stderr, "true entropy of %s: %.4f nats (gap %.4f)\n", spec.c_str(), h, m.mean - h);
    result.push_back({"entropy", h});
  }
}

}  // namespace

int cmd_train(int argc, char** argv) {
  Args args("fm train", "Train a flow-matching vector field with the conditional flow-matching loss.");
  add_train_options(args);
  if (!args.parse(argc, argv, 2)) return 0;

  Session s = open_session(args);
  const TrainOptions& topt = s.run.train;
  const int64_t steps = topt.steps, ckpt_every = args.i64("--ckpt-every");
  std::filesystem::create_directories(s.out_dir);
  const std::string ckpt_path = s.out_dir + "/model.safetensors", state_path = s.out_dir + "/train_state.safetensors";

  std::unique_ptr<ProbPath> path = make_path(s.run.path, s.run.sigma_min);
  // The init stream also seeds the U-Net's dropout stream, so a resumed model is built from it too.
  Rng init_rng(derive_seed(topt.seed, 0));
  std::unique_ptr<FieldModel> model = make_model(s.run.model, init_rng);
  Trainer trainer(*model, *path, *s.data, topt);
  if (s.resume) {
    try {
      trainer.load_state(s.state);
    } catch (const std::exception& e) {
      throw std::runtime_error(state_path + ": " + e.what());
    }
  }
  const int64_t start = trainer.steps_done();
  print_header(s, *model, *path, start);

  // Image runs: grids of EMA samples from fixed noise while training, on a stream of their own.
  std::unique_ptr<SampleGrid> grid;
  const int64_t sample_every = s.images ? args.i64("--sample-every") : 0;
  OdeOptions grid_ode;
  if (sample_every > 0) {
    grid = std::make_unique<SampleGrid>(s.run.model, path->prior_std(), derive_seed(topt.seed, 6));
    grid_ode.method = parse_method(args.str("--sample-solver"));
    grid_ode.steps = args.i64("--sample-steps");
    if (grid_ode.steps < 1) throw UsageError("--sample-steps must be at least 1");
  }

  LossLog log(s.out_dir + "/loss.csv", s.run.log_every, start, s.resume ? &s.state.metadata : nullptr);
  Progress bar("train", steps - start);
  std::map<std::string, std::string> meta{
      {"data", s.run.data_spec}, {"path", path->name()}, {"seed", std::to_string(int64_t(topt.seed))}};
  int64_t saved_step = s.resume ? start : -1;
  // The train state goes first: it refuses NaN/Inf before anything is written, so a diverged
  // run leaves both files of the last good checkpoint as they were.
  auto save = [&](int64_t step) {
    std::map<std::string, std::string> extra = run_metadata(s.run);
    extra.merge(log.state(bar.elapsed()));
    save_train_state(state_path, trainer, extra);
    save_checkpoint(ckpt_path, *model, trainer.eval_weights(), step, meta);
    saved_step = step;
  };

  model->set_training(true);
  try {
    for (int64_t step = start; step < steps; ++step) {
      StepStats st = trainer.step();  // throws on a non-finite loss or gradient, before any update
      log.add(step + 1, st, step + 1 == steps, bar.elapsed());
      char extra[64];
      std::snprintf(extra, sizeof extra, "loss %.4f", log.last_loss() > 0 ? log.last_loss() : st.loss);
      bar.update(step + 1 - start, extra);
      if (ckpt_every > 0 && (step + 1) % ckpt_every == 0 && step + 1 < steps) save(step + 1);
      if (grid && (step + 1) % sample_every == 0 && step + 1 < steps)
        grid->write(s.out_dir + "/samples.png", trainer.eval_weights(), grid_ode);
    }
    save(steps);
  } catch (const std::exception& e) {
    std::string last = saved_step < 0 ? "No checkpoint was written yet."
                                       : "The last good checkpoint " + ckpt_path + " (step " + std::to_string(saved_step) +
                                             ", with train_state.safetensors for --resume) is intact.";
    throw std::runtime_error(std::string(e.what()) + "; training stopped. " + last +
                             (s.resume ? "" : " Try a lower --lr."));
  }
  const double train_seconds = bar.elapsed();
  bar.finish();
  log.close();
  model->set_training(false);
  trainer.use_eval_weights();  // evaluate what was saved
  std::fprintf(stderr, "wrote %s and %s/loss.csv (%.1f s, %.1f steps/s)\n", ckpt_path.c_str(), s.out_dir.c_str(),
               train_seconds, double(steps - start) / train_seconds);

  std::vector<std::pair<std::string, Json>> result{{"loss", log.last_loss()}, {"steps", steps}, {"seconds", train_seconds}};
  if (grid) {  // the final grid, solved accurately
    OdeOptions ode;
    ode.method = Method::Dopri5;
    ode.rtol = ode.atol = 1e-5;
    int64_t nfe = grid->write(s.out_dir + "/samples.png", trainer.eval_weights(), ode);
    std::fprintf(stderr, "wrote %s/samples.png (64 samples from fixed noise, %s, %lld evaluations)\n", s.out_dir.c_str(),
                 describe_solver(ode).c_str(), (long long)nfe);
  }
  if (!s.images) evaluate_points(s, *model, *path, kind_i64(args, "--eval-n", false), args.i64("--eval-batch"), result);
  if (args.on("--json")) std::printf("%s\n", json_line(result).c_str());
  return 0;
}

}  // namespace fm
