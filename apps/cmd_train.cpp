// apps/cmd_train.cpp: `fm train`, conditional flow matching end to end, from the command line.
//
// The run itself lives in flow/run.h (the model follows the data: flat samples train the MLP,
// images the U-Net; checkpoints, loss.csv, exact resume, sample grids and the final NLL). This
// file turns flags into the run's options, with defaults that depend on the kind of data
// (kKindDefaults), refuses flags that do not apply, and observes the run: progress bars, loss.svg
// after each checkpoint (apps/plots.h), the pictures of the samples it draws, the final NLL.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>

#include "apps/commands.h"
#include "apps/common.h"
#include "apps/plots.h"
#include "apps/png.h"
#include "apps/progress.h"
#include "apps/train_images.h"
#include "dist/dist.h"
#include "flow/dataset.h"
#include "flow/run.h"
#include "tensor/cpu/parallel.h"

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
        "(fashion-mnist, mnist, cifar10), an IDX image file, a .npy/.csv file of N x D samples, a .npy of images "
        "(N x C x H x W or N x H x W x C) or a folder of PNG images")
      .opt("--split", "train", "image sets: train or test")
      .opt("--data-dir", "", "image sets: directory of the IDX or CIFAR-10 binary files (default for fashion-mnist: " +
                                 std::string(kFashionMnistDir) + ")")
      .opt("--layout", "", "a .npy of images: nchw or nhwc (default: inferred from where the 1 or 3 channels are)")
      .opt("--labels", "", "a .npy of images: a 1-D .npy of class indices, one per image (checked, not yet used)")
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
  std::string presets;
  for (const std::string& n : unet_preset_names()) presets += (presets.empty() ? "" : ", ") + n;
  a.opt("--preset", "", "images: a U-Net shape (" + presets + "); the U-Net flags given override it")
      .opt("--width", "512", "points: MLP hidden width")
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
  add_device_option(a);
}

// Flags that define a run. With --resume they come from the checkpoint (only --steps may extend).
const std::vector<std::string> kRunFlags = {"--data",   "--split",     "--data-dir", "--hflip",  "--layout", "--labels", "--batch",
                                            "--lr",     "--schedule",  "--warmup",   "--optimizer",    "--weight-decay",
                                            "--clip",   "--ema",       "--width",    "--depth",        "--path",
                                            "--sigma-min", "--seed",   "--out"};
const std::vector<std::string> kImageOnlyFlags = {"--hflip", "--sample-every", "--sample-solver", "--sample-steps"};
const std::vector<std::string> kPointOnlyFlags = {"--width", "--depth"};

void reject_given(const Args& a, const std::vector<std::string>& flags, const std::string& why) {
  for (const std::string& f : flags)
    if (a.given(f)) throw UsageError(f + " " + why);
}

DataOptions data_options(const Args& a) {
  DataOptions d;
  d.split = a.str("--split");
  d.data_dir = a.str("--data-dir");
  d.hflip = a.on("--hflip");
  d.layout = a.str("--layout");
  d.labels = a.str("--labels");
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
  ModelChoice choice;
  if (images) {
    choice.unet = unet_config_from_args(a, shape);
  } else {
    choice.width = a.i64("--width");
    choice.depth = a.i64("--depth");
  }
  r.model = model_for_data(shape, choice);
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

// --resume DIR: the run and its saved state (flow/run.h). The flags that define the run are
// refused, since they come from the checkpoint; a larger --steps extends it.
ResumedRun resume_from_args(const Args& a, const std::string& dir) {
  ResumeRequest req;
  req.dir = dir;
  for (const std::vector<std::string>* flags : {&kRunFlags, &kUNetFlags})
    for (const std::string& f : *flags)
      if (a.given(f)) req.run_options_given.push_back(f);
  if (a.given("--steps")) req.steps = a.i64("--steps");
  if (a.given("--log-every")) req.log_every = a.i64("--log-every");
  try {
    return load_resume(req);
  } catch (const RunOptionError& e) {
    throw UsageError(e.what());
  }
}

// runs/<this> by default: the data file's stem, or the folder's name ("pngs/" -> "pngs").
std::string default_run_name(std::string spec) {
  while (spec.size() > 1 && spec.back() == '/') spec.pop_back();
  return std::filesystem::path(spec).stem().string();
}

// What `fm train` hands to train_run: the run's options and its data.
struct Session {
  TrainRunOptions run;
  std::unique_ptr<Dataset> data;
  bool images = false;
};

// From the flags, or from the checkpoint being resumed; refuses flags that do not apply.
Session open_session(const Args& args) {
  Session s;
  s.run.device = device_option(args);  // first: a missing GPU fails before anything is read or written
  dist::bind_device(s.run.device);     // under mpirun with CUDA: one GPU per process
  const bool resume = args.given("--resume");
  if (resume) {
    s.run.out_dir = args.str("--resume");
    ResumedRun r = resume_from_args(args, s.run.out_dir);
    if (!r.note.empty() && dist::is_root()) std::fprintf(stderr, "%s\n", r.note.c_str());
    s.run.spec = std::move(r.spec);
    s.run.resume_state = std::move(r.state);
    s.data = open_dataset(s.run.spec.data_spec, s.run.spec.data);
  } else {
    s.data = open_dataset(args.str("--data"), data_options(args));
  }
  const std::string name = s.data->name();
  s.images = data_kind(*s.data) == DataKind::Images;
  if (s.images) {
    reject_given(args, kPointOnlyFlags, "applies to the MLP; " + name + " holds images (the U-Net)");
    if (args.given("--eval-n") && args.i64("--eval-n") > 0)
      throw UsageError("--eval-n: the exact NLL of images takes one VJP per pixel; evaluate the checkpoint with fm nll");
  } else {
    reject_given(args, kUNetFlags, "applies to the U-Net; " + name + " holds flat samples (the MLP)");
    reject_given(args, kImageOnlyFlags, "applies to image data; " + name + " holds flat samples");
  }
  if (!resume) {
    s.run.spec = run_from_args(args, *s.data, s.images);
    s.run.out_dir =
        args.given("--out") ? args.str("--out") : "runs/" + default_run_name(s.run.spec.data_spec);
  }
  try {  // under mpirun each process trains on an equal share of the batch
    check_batch_split(s.run.spec.train.batch, dist::size());
  } catch (const std::runtime_error& e) {
    throw UsageError(e.what());
  }
  s.run.ckpt_every = args.i64("--ckpt-every");
  if (s.images) {  // grids of EMA samples from fixed noise while training
    s.run.grid_every = args.i64("--sample-every");
    s.run.grid_ode.method = parse_method(args.str("--sample-solver"));
    s.run.grid_ode.steps = args.i64("--sample-steps");
    if (s.run.grid_ode.steps < 1) throw UsageError("--sample-steps must be at least 1");
  } else {
    s.run.eval_n = kind_i64(args, "--eval-n", false);
    s.run.eval_batch = args.i64("--eval-batch");
  }
  return s;
}

// samples.png: the grid (the final one announced), or 2-D model samples beside data samples.
void draw_samples(const std::string& path, const RunSamples& s) {
  if (s.data.defined()) {
    write_2d_comparison_png(path, s.samples, s.data);
    std::fprintf(stderr, "wrote %s (model samples left, data right)\n", path.c_str());
    return;
  }
  int w = 0, h = 0;
  std::vector<uint8_t> pixels = image_grid_rgb(s.samples, 8, &w, &h);
  write_png(path, w, h, 3, pixels.data());
  if (s.final)
    std::fprintf(stderr, "wrote %s (64 samples from fixed noise, %s, %lld evaluations)\n", path.c_str(),
                 describe_solver(s.ode).c_str(), (long long)s.nfe);
}

void print_header(const RunContext& c, bool images) {
  const Shape shape = c.data.sample_shape();
  const RunSpec& r = c.options.spec;
  const TrainOptions& t = r.train;
  // e.g. " (NHWC, inferred; 10 classes ...)": how an image file was read, and its labels.
  const std::string details = c.data.details().empty() ? "" : " (" + c.data.details() + ")";
  if (images)
    std::fprintf(stderr, "fm train: %s, %s images%s, %s (%lld parameters), path %s, batch %lld, %lld steps -> %s\n",
                 c.data.name().c_str(), shape_str(shape, ShapeStyle::Dims).c_str(), details.c_str(),
                 describe_unet(unet_config_from_json(r.model)).c_str(),
                 (long long)c.model.num_parameters(), c.path.name().c_str(), (long long)t.batch, (long long)t.steps,
                 c.options.out_dir.c_str());
  else
    std::fprintf(stderr, "fm train: %s, %lld-dim, MLP %lld x %lld (%lld parameters), path %s, batch %lld, %lld steps -> %s\n",
                 c.data.name().c_str(), (long long)shape[0], (long long)r.model.find("width")->as_number(),
                 (long long)r.model.find("depth")->as_number(), (long long)c.model.num_parameters(), c.path.name().c_str(),
                 (long long)t.batch, (long long)t.steps, c.options.out_dir.c_str());
  if (dist::size() > 1)
    std::fprintf(stderr, "data parallel: %d processes, %lld samples each per step, %d OpenMP thread%s each (rank 0)\n",
                 dist::size(), (long long)(t.batch / dist::size()), num_threads(), num_threads() == 1 ? "" : "s");
  if (c.options.resume_state) std::fprintf(stderr, "resuming at step %lld\n", (long long)c.start);
}


// The observers of a run: the progress bars, loss.svg after each checkpoint, the pictures of the
// samples the run draws, and the final NLL's line.
struct Observers {
  std::unique_ptr<Progress> bar, eval_bar;
  bool images = false, plot_warned = false;

  RunHooks hooks() {
    RunHooks h;
    h.on_start = [this](const RunContext& c) {
      print_header(c, images);
      bar = std::make_unique<Progress>("train", c.options.spec.train.steps - c.start);
    };
    h.on_step = [this](const RunContext& c, int64_t step, double loss) {
      char extra[64];
      std::snprintf(extra, sizeof extra, "loss %.4f", loss);
      bar->update(step - c.start, extra);
    };
    // A picture that cannot be written is not worth stopping a run for: one warning, and on.
    h.on_checkpoint = [this](const RunContext& c, int64_t) {
      const std::string& dir = c.options.out_dir;
      try {
        write_loss_svg(dir + "/loss.csv", dir + "/loss.svg", "fm train " + c.data.name() + " (" + dir + ")");
      } catch (const std::exception& e) {
        if (!plot_warned) std::fprintf(stderr, "\nwarning: %s/loss.svg not written: %s\n", dir.c_str(), e.what());
        plot_warned = true;
      }
    };
    h.on_trained = [this](const RunContext& c, const TrainRunResult& r) {
      bar->finish();
      std::fprintf(stderr, "wrote %s and %s/loss.csv (%.1f s, %.1f steps/s)\n", r.checkpoint.c_str(),
                   c.options.out_dir.c_str(), r.seconds, double(r.steps - r.start) / r.seconds);
      if (!plot_warned)
        std::fprintf(stderr, "wrote %s/loss.svg (loss and learning rate against the step)\n", c.options.out_dir.c_str());
    };
    h.on_samples = [](const RunContext& c, const RunSamples& s) { draw_samples(c.options.out_dir + "/samples.png", s); };
    h.on_eval_progress = [this](int64_t done, int64_t total, const SolveRun& so_far, int64_t nfe) {
      if (!eval_bar) eval_bar = std::make_unique<Progress>("nll", total);
      char extra[96];
      std::snprintf(extra, sizeof extra, "nll %.4f | nfe %lld", -mean_stderr(so_far.logp).mean, (long long)nfe);
      eval_bar->update(done, extra);
      if (done == total) eval_bar->finish();
    };
    return h;
  }
};

// The final NLL next to the true entropy, on stderr and into the JSON result.
void report_nll(const PointsNll& r, const Session& s, ResultFields& result) {
  const int64_t eval_n = s.run.eval_n, dim = s.data->sample_shape()[0];
  std::fprintf(stderr, "NLL on %lld fresh samples (exact divergence, dopri5 1e-5): %.4f +- %.4f nats (%.4f per dim), mean NFE %.0f\n",
               (long long)eval_n, r.nll.mean, r.nll.stderr_, r.nll.mean / double(dim), r.mean_nfe);
  result.push_back({"nll", r.nll.mean});
  result.push_back({"nll_stderr", r.nll.stderr_});
  result.push_back({"nfe", r.mean_nfe});
  if (r.entropy) {
    std::fprintf(stderr, "true entropy of %s: %.4f nats (gap %.4f)\n", s.run.spec.data_spec.c_str(), *r.entropy,
                 r.nll.mean - *r.entropy);
    result.push_back({"entropy", *r.entropy});
  }
}

}  // namespace

int cmd_train(int argc, char** argv) {
  Args args("fm train", "Train a flow-matching vector field with the conditional flow-matching loss.");
  add_train_options(args);
  if (!args.parse(argc, argv, 2)) return 0;

  Session s = open_session(args);
  Observers observers;
  observers.images = s.images;
  TrainRunResult r = train_run(s.run, *s.data, observers.hooks());
  if (!dist::is_root()) return 0;
  ResultFields result{{"loss", r.last_loss}, {"steps", r.steps}, {"seconds", r.seconds}};
  if (r.nll) report_nll(*r.nll, s, result);
  if (args.on("--json")) std::printf("%s\n", json_line(result).c_str());
  return 0;
}

}  // namespace fm
