// apps/cmd_sample.cpp: `fm sample`, noise -> data by solving dx/dt = v(x, t) from t = 0 to 1.
// With --logp the divergence is integrated along the same solve, giving every sample's
// log-likelihood log p1(x1) = log p0(x0) - int_0^1 div v dt without a second solve.
// For an image model the first 64 samples are also drawn as an 8 x 8 PNG grid.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <numeric>

#include "apps/commands.h"
#include "apps/common.h"
#include "apps/pictures.h"
#include "apps/progress.h"
#include "dist/dist.h"
#include "flow/class_means.h"
#include "flow/dataset.h"
#include "flow/path.h"
#include "flow/schedule_transform.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "ode/evaluate.h"
#include "tensor/ops.h"
#include "tensor/io/npy.h"

namespace fm {

namespace {

// The noise the samples start from: --x0, or `count` draws of N(0, prior_std^2) from the seed's stream.
Tensor starting_noise(const Args& args, const Shape& sample_shape, int64_t count, double prior_std, uint64_t seed) {
  Shape want = sample_shape;
  if (args.given("--x0")) {
    Tensor x0 = load_npy(args.str("--x0"));
    want.insert(want.begin(), x0.ndim() ? x0.dim(0) : 0);
    if (x0.shape() != want)
      throw std::runtime_error(args.str("--x0") + ": noise of shape " + shape_str(x0.shape()) + " does not fit the model (" +
                               shape_str(want) + ")");
    return x0;
  }
  want.insert(want.begin(), count);
  if (want[0] < 1) throw UsageError("--n must be positive");
  Tensor x0 = Tensor::empty(want);
  Rng(seed).normal(x0, 0.0f, float(prior_std));
  return x0;
}

// What --class and --guidance ask for: one label per sample (none without --class), and the
// number of samples. --class all draws --n samples of each class, class by class.
struct ClassRequest {
  ClassCondition cond;
  int64_t count = 0;
  int64_t per_class = 0;  // --class all: samples of each class (the grid's rows)
};
ClassRequest class_request(const Args& args, int64_t classes, int64_t default_n, const std::string& ckpt) {
  ClassRequest r;
  r.count = args.given("--n") ? args.i64("--n") : default_n;
  if (!args.given("--class")) {
    if (args.given("--guidance")) throw UsageError("--guidance needs --class K or --class all");
    return r;
  }
  if (classes < 1) throw UsageError("--class: " + ckpt + " is not class-conditional (train it with fm train --conditional)");
  r.cond.guidance = args.f64("--guidance");
  if (!std::isfinite(r.cond.guidance)) throw UsageError("--guidance must be a finite number");
  const std::string which = args.str("--class");
  if (which == "all") {
    r.per_class = args.given("--n") ? args.i64("--n") : default_n == 64 ? 8 : default_n / 10;
    if (r.per_class < 1) throw UsageError("--n must be positive");
    r.count = r.per_class * classes;
    for (int64_t i = 0; i < r.count; ++i) r.cond.labels.push_back(i / r.per_class);
    return r;
  }
  char* end = nullptr;
  const long long k = std::strtoll(which.c_str(), &end, 10);
  if (which.empty() || *end != '\0' || k < 0 || k >= classes)
    throw UsageError("--class must be all or a class 0.." + std::to_string(classes - 1) + " (got '" + which + "')");
  r.cond.labels.assign(size_t(std::max<int64_t>(r.count, 0)), k);
  return r;
}

// --png: an 8 x 8 grid of the first 64 images (with --class all: a row of up to 16 per class), or
// a density picture of 2-D samples.
void write_picture(const Args& args, const Tensor& xs, const Shape& sample_shape, bool images, int64_t per_class) {
  const int64_t n = xs.dim(0);
  const std::string out = args.str("--out");
  if (images) {
    const std::string png = args.given("--png") ? args.str("--png") : std::filesystem::path(out).replace_extension(".png").string();
    int width = 0, height = 0;
    std::vector<uint8_t> grid;
    if (per_class > 0) {  // one row per class
      const int64_t cols = std::min<int64_t>(per_class, 16);
      std::vector<int64_t> pick;
      for (int64_t c = 0; c < n / per_class; ++c)
        for (int64_t j = 0; j < cols; ++j) pick.push_back(c * per_class + j);
      grid = image_grid_rgb(take_rows(xs, pick), int(cols), &width, &height);
    } else {
      grid = image_grid_rgb(xs.rows(0, std::min<int64_t>(n, 64)), 8, &width, &height);  // clamps to [-1, 1]
    }
    write_png(png, width, height, 3, grid.data());
    std::fprintf(stderr, "wrote %s (%s)\n", png.c_str(), per_class > 0 ? "a row per class" : ("the first " + std::to_string(std::min<int64_t>(n, 64)) + " samples").c_str());
  } else if (args.given("--png")) {
    if (sample_shape != Shape{2}) throw std::runtime_error("--png draws 2-D samples; this model's samples are " + shape_str(sample_shape));
    int size = 512;
    std::vector<uint8_t> pic = density_image_rgb(xs.data(), n, size, -4.5f, 4.5f);
    write_png(args.str("--png"), size, size, 3, pic.data());
    std::fprintf(stderr, "wrote %s\n", args.str("--png").c_str());
  }
}


void declare_sample_options(Args& args) {
  args.opt("--ckpt", "", "model checkpoint (.safetensors) written by fm train")
      .opt("--n", "", "number of samples (default: 64 for images, 10000 otherwise)")
      .opt("--out", "samples.npy", "where to write the samples (.npy, N x D or N x C x H x W, unclamped)")
      .opt("--png", "", "also draw the samples into this PNG (2-D: a density picture; images: an 8 x 8 grid of "
                        "the first 64, written to <out stem>.png by default)")
      .opt("--x0", "", "start from this noise (.npy, N x D or N x C x H x W) instead of drawing it")
      .opt("--batch", "", "samples per ODE solve (default: 64 for images, 10000 otherwise)")
      .opt("--seed", "0", "seed for the noise and the Hutchinson probes")
      .opt("--path", "", "solve along this path (condot, cosine, poly:N, linear-vp) instead of the model's own: the same "
                         "samples at other solver times (a scheduler change, flow/schedule_transform.h)")
      .opt("--class", "", "class-conditional models: draw class K (0..K-1), or all: --n samples of each class (default 8 for "
                          "images, 1000 otherwise), class by class, a grid row per class")
      .opt("--guidance", "0", "with --class: classifier-free guidance weight w, v = (1 + w) v(x,t|class) - w v(x,t|no class); "
                              "0 is the plain conditional field (minRF's cfg scale is 1 + w)")
      .flag("--class-accuracy", "with --class: the fraction of samples a nearest-class-mean classifier (fitted in pixel space "
                                "on the labelled data, flow/class_means.h) recognises as their class")
      .opt("--class-data", "", "with --class-accuracy: the labelled data to fit it on (default: the model's training data)")
      .opt("--divergence", "exact", "with --logp: exact or hutchinson")
      .opt("--probes", "1", "with --divergence hutchinson: probes per sample")
      .flag("--logp", "also integrate the divergence and write each sample's log-likelihood to <out>.logp.npy")
      .flag("--json", "print the results as one JSON line on stdout");
  add_device_option(args);
  add_solver_options(args);
}

}  // namespace

int cmd_sample(int argc, char** argv) {
  Args args("fm sample", "Generate samples from a trained model by solving its ODE from noise (t = 0) to data (t = 1).");
  declare_sample_options(args);
  if (!args.parse(argc, argv, 2)) return 0;
  if (!args.given("--ckpt")) throw UsageError("--ckpt is required");

  const Device device = device_option(args);
  dist::bind_device(device);
  LoadedModel lm = load_checkpoint(args.str("--ckpt"));
  lm.model->to(device);
  const Shape sample_shape = model_sample_shape(lm.config);
  const bool images = kind_of(sample_shape) == DataKind::Images;
  FlowSolveOptions opt;
  opt.ode = solver_options(args);
  opt.divergence = parse_divergence(args.str("--divergence"));
  opt.probes = static_cast<int>(args.i64("--probes"));
  const std::unique_ptr<ProbPath> trained_path = checkpoint_path(lm.metadata);
  opt.prior_std = trained_path->prior_std();  // N(0, I), wider for VE
  const uint64_t seed = derive_seed(args.i64("--seed"), Stream::Sample);  // the noise; chunk c's probes: derive_seed(seed, c)
  const ClassRequest classes = class_request(args, lm.model->num_classes(), images ? 64 : 10000, args.str("--ckpt"));
  const Tensor x0 = starting_noise(args, sample_shape, classes.count, opt.prior_std, seed);
  const int64_t n = x0.dim(0), batch = args.given("--batch") ? args.i64("--batch") : images ? 64 : 10000;
  if (!classes.cond.labels.empty() && int64_t(classes.cond.labels.size()) != n)
    throw UsageError("--x0 holds " + std::to_string(n) + " samples; --class asks for " + std::to_string(classes.cond.labels.size()));
  const bool track = args.on("--logp");

  // --path: the model's field seen along another path (the paths outlive the field that refers to them).
  std::unique_ptr<ProbPath> new_path;
  std::unique_ptr<ScheduleTransformedField> moved;
  if (args.given("--path")) {
    try {
      new_path = make_path(args.str("--path"));
    } catch (const std::runtime_error& e) {
      throw UsageError(std::string("--path: ") + e.what());
    }
    moved = std::make_unique<ScheduleTransformedField>(*lm.model, *trained_path, *new_path);
  }
  const FieldModel& field = moved ? static_cast<const FieldModel&>(*moved) : *lm.model;

  Progress bar("sample", n);
  SolveRun run = sample_many(field, x0, opt, batch, seed, track, [&](int64_t done, const SolveRun&, int64_t nfe) {
    bar.update(done, "nfe " + std::to_string(nfe));
  }, classes.cond);
  bar.finish();
  if (!dist::is_root()) return 0;  // rank 0 has every sample (ode/evaluate.h)
  const std::string out = args.str("--out");
  save_npy(out, run.x);
  std::fprintf(stderr, "wrote %lld samples to %s with %s%s, mean NFE %.1f\n", (long long)n, out.c_str(),
               describe_solver(opt.ode).c_str(), moved ? (" along " + new_path->name()).c_str() : "", run.mean_nfe);
  ResultFields result{{"n", n}, {"nfe", run.mean_nfe}};
  if (!classes.cond.labels.empty()) {
    const std::string labels_path = std::filesystem::path(out).replace_extension("").string() + ".labels.npy";
    save_npy_int64(labels_path, classes.cond.labels);
    std::fprintf(stderr, "wrote their classes to %s (guidance w = %g)\n", labels_path.c_str(), classes.cond.guidance);
  }
  if (track) {
    const std::string lp_path = std::filesystem::path(out).replace_extension("").string() + ".logp.npy";
    save_npy(lp_path, Tensor::from(std::vector<float>(run.logp.begin(), run.logp.end()), {n}));
    MeanStderr m = mean_stderr(run.logp);
    std::fprintf(stderr, "wrote log-likelihoods to %s: mean log p %.4f +- %.4f nats\n", lp_path.c_str(), m.mean, m.stderr_);
    result.push_back({"logp", m.mean});
    result.push_back({"logp_stderr", m.stderr_});
  }
  write_picture(args, run.x, sample_shape, images, classes.per_class);
  if (args.on("--class-accuracy")) {
    if (classes.cond.labels.empty()) throw UsageError("--class-accuracy needs --class");
    const std::string spec = args.given("--class-data") ? args.str("--class-data") : lm.metadata["data"];
    std::unique_ptr<Dataset> data = open_dataset(spec);
    const double acc = intended_class_accuracy(data->head(data->size()), data->labels(), lm.model->num_classes(), run.x,
                                               classes.cond.labels);
    std::fprintf(stderr, "nearest-class-mean accuracy (fitted on %s): %.4f of %lld samples show their class\n",
                 data->name().c_str(), acc, (long long)n);
    result.push_back({"class_accuracy", acc});
  }
  if (args.on("--json")) std::printf("%s\n", json_line(result).c_str());
  return 0;
}

}  // namespace fm
