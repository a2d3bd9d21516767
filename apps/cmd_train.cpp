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
#include "apps/train_output.h"
#include "apps/train_images.h"
#include "dist/dist.h"
#include "flow/dataset.h"
#include "flow/interrupt.h"
#include "flow/run.h"
#include "tensor/cpu/parallel.h"

namespace fm {

namespace {

// The run options of flow/run_options.h's table (a kind-dependent default is declared without
// one: the help shows both), then the model's flags and the flags of this session.
void add_train_options(Args& a) {
  for (const RunOption& o : run_options()) {
    if (!o.flag) continue;
    if (o.is_switch)
      a.flag(o.flag, o.help);
    else if (o.images_default && std::string(o.images_default) != o.points_default)
      a.opt(o.flag, "", std::string(o.help) + " (default: " + o.points_default + " for points, " + o.images_default + " for images)");
    else
      a.opt(o.flag, o.points_default, o.help);
  }
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
      .opt("--out", "", "output directory (default runs/<data>)")
      .opt("--resume", "", "continue the run in this directory from its last checkpoint, exactly as if it had not "
                           "stopped (its options come from DIR/train_state.safetensors)")
      .opt("--ckpt-every", "500", "write the checkpoint every this many steps; 0 = only at the end")
      .opt("--sample-every", "500", "images: write DIR/samples.png (64 EMA samples from fixed noise) every this many "
                                    "steps and at the end (dopri5); 0 = no grids")
      .opt("--sample-solver", "midpoint", "images: ODE solver of the grids while training (the final one uses dopri5 at 1e-5)")
      .opt("--sample-steps", "20", "images: steps of that solver")
      .opt("--eval-n", "2000", "points: fresh data samples for the final exact NLL; 0 = skip")
      .opt("--eval-batch", "2000", "samples per likelihood solve")
      .flag("--json", "print the results as one JSON line on stdout");
  add_device_option(a);
}

// The model's flags: with --resume they come from the checkpoint, as the Refused run options do.
const std::vector<std::string> kMlpFlags = {"--width", "--depth"};
const std::vector<std::string> kImageOnlyFlags = {"--hflip", "--sample-every", "--sample-solver", "--sample-steps"};

void reject_given(const Args& a, const std::vector<std::string>& flags, const std::string& why) {
  for (const std::string& f : flags)
    if (a.given(f)) throw UsageError(f + " " + why);
}

bool is_switch(const std::string& flag) {
  for (const RunOption& o : run_options())
    if (o.flag && flag == o.flag) return o.is_switch;
  return false;
}

// The run options given (flow/run_options.h), with the defaults for data of `kind`.
RunSpec options_from_args(const Args& a, DataKind kind) {
  try {
    return run_from_options([&](const std::string& flag) -> std::optional<std::string> {
      if (!a.given(flag)) return std::nullopt;
      return is_switch(flag) ? std::string(a.on(flag) ? "true" : "false") : a.str(flag);
    }, kind);
  } catch (const RunOptionError& e) {
    throw UsageError(e.what());
  }
}

// The model for `data` from its flags (nn/: the MLP's width and depth, or the U-Net's).
Json model_from_args(const Args& a, const Dataset& data, bool images) {
  const Shape shape = data.sample_shape();
  ModelChoice choice;
  if (images) {
    choice.unet = unet_config_from_args(a, shape);
  } else {
    choice.width = a.i64("--width");
    choice.depth = a.i64("--depth");
  }
  if (a.on("--conditional")) {
    choice.classes = data.num_classes();
    if (choice.classes < 1)
      throw UsageError("--conditional: " + data.name() + " has no class labels (give --labels FILE for a .npy, .csv or IDX image "
                       "file; fashion-mnist and mnist read the split's *-labels-idx1-ubyte file beside the images)");
  } else if (a.given("--cond-drop")) {
    throw UsageError("--cond-drop applies to conditional models (--conditional)");
  }
  return model_for_data(shape, choice);
}

// --resume DIR: the run and its saved state (flow/run.h). The flags that define the run are
// refused, since they come from the checkpoint; a larger --steps extends it.
ResumedRun resume_from_args(const Args& a, const std::string& dir) {
  ResumeRequest req;
  req.dir = dir;
  for (const RunOption& o : run_options())
    if (o.flag && o.resume == OnResume::Refused && a.given(o.flag)) req.run_options_given.push_back(o.flag);
  for (const std::vector<std::string>* flags : {&kMlpFlags, &kUNetFlags})
    for (const std::string& f : *flags)
      if (a.given(f)) req.run_options_given.push_back(f);
  if (a.given("--out")) req.run_options_given.push_back("--out");
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

// Refuses the flags that do not apply to the data's kind.
void check_flags_apply(const Args& args, const Dataset& data, bool images) {
  const std::string name = data.name();
  if (images) {
    reject_given(args, kMlpFlags, "applies to the MLP; " + name + " holds images (the U-Net)");
    if (args.given("--eval-n") && args.i64("--eval-n") > 0)
      throw UsageError("--eval-n: the exact NLL of images takes one VJP per pixel; evaluate the checkpoint with fm nll");
  } else {
    reject_given(args, kUNetFlags, "applies to the U-Net; " + name + " holds flat samples (the MLP)");
    reject_given(args, kImageOnlyFlags, "applies to image data; " + name + " holds flat samples");
  }
}

// The session's own settings: checkpoints, and the grids (images) or the final NLL (points).
void session_settings(const Args& args, Session& s) {
  s.run.ckpt_every = args.i64("--ckpt-every");
  if (s.images) {
    s.run.grid_every = args.i64("--sample-every");
    s.run.grid_ode.method = parse_method(args.str("--sample-solver"));
    s.run.grid_ode.steps = args.i64("--sample-steps");
    if (s.run.grid_ode.steps < 1) throw UsageError("--sample-steps must be at least 1");
  } else {
    s.run.eval_n = args.i64("--eval-n");
    s.run.eval_batch = args.i64("--eval-batch");
  }
}

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
  } else {
    s.run.spec = options_from_args(args, DataKind::Points);  // the data's options do not depend on the kind
  }
  s.data = open_dataset(s.run.spec.data_spec, s.run.spec.data);
  s.images = data_kind(*s.data) == DataKind::Images;
  check_flags_apply(args, *s.data, s.images);
  if (!resume) {
    if (s.images) s.run.spec = options_from_args(args, DataKind::Images);
    s.run.spec.model = model_from_args(args, *s.data, s.images);
    s.run.out_dir = args.given("--out") ? args.str("--out") : "runs/" + default_run_name(s.run.spec.data_spec);
  }
  try {  // under mpirun each process trains on an equal share of the batch
    check_batch_split(s.run.spec.train.batch, dist::size());
  } catch (const std::runtime_error& e) {
    throw UsageError(e.what());
  }
  session_settings(args, s);
  return s;
}

}  // namespace

int cmd_train(int argc, char** argv) {
  Args args("fm train", "Train a flow-matching vector field with the conditional flow-matching loss.");
  add_train_options(args);
  if (!args.parse(argc, argv, 2)) return 0;

  Session s = open_session(args);
  TrainRunResult r;
  try {
    const InterruptGuard on_signals;  // SIGINT/SIGTERM: checkpoint, then RunInterrupted
    r = train_run(s.run, *s.data, train_observers(s.images));
  } catch (const RunInterrupted& e) {
    if (dist::is_root()) std::fprintf(stderr, "\nfm train: interrupted by %s\n", e.what());
    return 128 + e.signal;
  }
  if (!dist::is_root()) return 0;
  ResultFields result{{"loss", r.last_loss}, {"steps", r.steps}, {"seconds", r.seconds}};
  if (r.nll) report_nll(*r.nll, s.run.spec.data_spec, s.run.eval_n, s.data->sample_shape()[0], result);
  if (r.quality) report_quality(*r.quality, result);
  if (args.on("--json")) std::printf("%s\n", json_line(result).c_str());
  return 0;
}

}  // namespace fm
