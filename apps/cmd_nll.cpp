// apps/cmd_nll.cpp: `fm nll`, the exact negative log-likelihood of data under a trained flow,
// by integrating [x, div] from t = 1 (data) to t = 0 (noise) (paper appendix C). For an image
// model it reports bits per dimension of dequantised test images instead (ode/bpd.h). --out keeps
// the per-sample values, --hist draws their histogram (apps/plots.h).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "apps/commands.h"
#include "apps/common.h"
#include "apps/plots.h"
#include "apps/progress.h"
#include "dist/dist.h"
#include "flow/dataset.h"
#include "flow/path.h"
#include "flow/toy2d.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "ode/bpd.h"
#include "tensor/io/npy.h"

namespace fm {

namespace {

// --hist FILE: the histogram of the per-sample values (apps/plots.h), with their mean marked.
void write_hist(const Args& args, const std::vector<double>& values, const std::string& title, const std::string& unit) {
  if (!args.given("--hist")) return;
  const std::string path = args.str("--hist");
  histogram_plot(values, title, unit).save(path);
  std::fprintf(stderr, "wrote %s (histogram of %s)\n", path.c_str(), unit.c_str());
}

// --class-conditional: the first n samples' labels, for log p(x | y) under the conditional field
// (guidance 0); without it no labels, and a conditional model gives log p(x) by its unconditional
// field.
ClassCondition true_labels(const Args& args, const LoadedModel& lm, const Dataset& data, int64_t n) {
  ClassCondition cond;
  if (!args.on("--class-conditional")) return cond;
  if (lm.model->num_classes() < 1)
    throw UsageError("--class-conditional: " + args.str("--ckpt") + " is not class-conditional (fm train --conditional)");
  const std::vector<int64_t>& labels = data.labels();
  if (int64_t(labels.size()) < n) throw UsageError("--class-conditional: " + data.name() + " has no class labels");
  cond.labels.assign(labels.begin(), labels.begin() + n);
  return cond;
}

// " of class-conditional log p(x | y)" or "".
std::string conditional_note(const ClassCondition& cond) { return cond.labels.empty() ? "" : ", log p(x | true label)"; }

// Bits/dim of the first n images of `data`: integer pixels, dequantised K times each.
int nll_images(const Args& args, const LoadedModel& lm, Dataset& data, const FlowSolveOptions& opt,
               const std::string& divergence, int64_t batch, uint64_t seed) {
  const int dequant = static_cast<int>(args.i64("--dequant"));
  if (dequant < 1) throw UsageError("--dequant must be at least 1");
  Tensor pixels;
  try {
    pixels = data.head_pixels(args.i64("--n")).to(lm.model->device());  // at most the set's size
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string(e.what()) + ": bits/dim needs integer pixels (fashion-mnist, mnist or an IDX file)");
  }
  const int64_t n = pixels.dim(0), dims = pixels.numel() / n;
  const ClassCondition cond = true_labels(args, lm, data, n);

  auto start = std::chrono::steady_clock::now();
  Progress bar("bpd", n * dequant);
  const FieldModel& model = *lm.model;
  BpdResult res = image_bpd([&](int64_t lo, int64_t hi) { return field_of_rows(model, cond, lo, hi); }, pixels, opt, dequant, batch, seed,
                            [&](int64_t done, const BpdResult& so_far, int64_t nfe) {
                              char extra[96];
                              if (so_far.bpd.empty())
                                std::snprintf(extra, sizeof extra, "nfe %lld", static_cast<long long>(nfe));
                              else
                                std::snprintf(extra, sizeof extra, "bpd %.4f | nfe %lld", mean_stderr(so_far.bpd).mean,
                                              static_cast<long long>(nfe));
                              bar.update(done, extra);
                            });
  if (!dist::is_root()) return 0;  // rank 0 has every image's result (ode/bpd.h)
  char final_extra[48];
  std::snprintf(final_extra, sizeof final_extra, "bpd %.4f", mean_stderr(res.bpd).mean);
  bar.finish(final_extra);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  if (args.given("--out")) {
    std::vector<float> b(res.bpd.begin(), res.bpd.end());
    save_npy(args.str("--out"), Tensor::from(b, {n}));
  }
  MeanStderr m = mean_stderr(res.bpd);
  const double nats = m.mean * std::log(2.0);  // -log p(x + u) / D on the pixel scale [0, 256)
  std::string probes = divergence == "hutchinson"
                           ? " (" + std::to_string(opt.probes) + " " + args.str("--probe") + " probe" +
                                 (opt.probes == 1 ? "" : "s") + ")"
                           : "";
  std::printf("bpd %.4f +- %.4f (%.4f nats/dim) on %lld images of %s (D = %lld)%s, %s divergence%s, K = %d dequantisation%s, "
              "%s, mean NFE %.1f, %.1f s\n",
              m.mean, m.stderr_, nats, (long long)n, data.name().c_str(), (long long)dims, conditional_note(cond).c_str(), divergence.c_str(),
              probes.c_str(), dequant, dequant == 1 ? "" : "s (importance-weighted)", describe_solver(opt.ode).c_str(),
              res.mean_nfe, seconds);
  write_hist(args, res.bpd, "fm nll: bits/dim of " + std::to_string(n) + " images of " + data.name(), "bits/dim");
  if (args.on("--json"))
    std::printf("%s\n", json_line({{"bpd", m.mean}, {"bpd_stderr", m.stderr_}, {"nats_per_dim", nats},
                                   {"nfe", res.mean_nfe}, {"n", n}, {"dequant", dequant}, {"seconds", seconds}})
                            .c_str());
  return 0;
}

// The data to evaluate, which must fit the model: --data, or the data the model was trained on.
std::unique_ptr<Dataset> open_data(const Args& args, const LoadedModel& lm, const std::string& spec, bool images) {
  if (spec.empty()) throw UsageError("--data is required (the checkpoint does not name its data)");
  DataOptions dopt;
  dopt.split = args.given("--split") ? args.str("--split") : images ? "test" : "train";
  dopt.data_dir = args.str("--data-dir");
  dopt.layout = args.str("--layout");
  dopt.labels = args.str("--labels");
  std::unique_ptr<Dataset> data = open_dataset(spec, dopt);
  const Shape sample_shape = model_sample_shape(lm.config);
  if (data->sample_shape() != sample_shape)
    throw std::runtime_error("data samples " + shape_str(data->sample_shape()) + " do not fit the model (" +
                             shape_str(sample_shape) + ")");
  return data;
}

FlowSolveOptions nll_solve_options(const Args& args, const LoadedModel& lm, const std::string& divergence) {
  FlowSolveOptions opt;
  opt.ode = solver_options(args);
  opt.divergence = parse_divergence(divergence);
  opt.probe = parse_probe(args.str("--probe"));
  opt.probes = static_cast<int>(args.i64("--probes"));
  if (opt.probes < 1) throw UsageError("--probes must be at least 1");
  opt.prior_std = checkpoint_path(lm.metadata)->prior_std();  // N(0, I), wider for VE
  return opt;
}

// The NLL of the first n rows of a file, or of n fresh samples of a toy.
int nll_points(const Args& args, const LoadedModel& lm, Dataset& data, const std::string& spec, const FlowSolveOptions& opt,
               const std::string& divergence, int64_t batch, uint64_t seed) {
  const int64_t want = args.i64("--n");
  Rng rng(seed);
  const Tensor x = data.size() > 0 ? data.head(std::min(want, data.size())) : data.batch(want, rng);
  const int64_t n = x.dim(0);
  const ClassCondition cond = true_labels(args, lm, data, n);
  SolveRun run = evaluate_logp_with_bar(*lm.model, x, opt, batch, seed, "nll", cond);
  if (!dist::is_root()) return 0;  // rank 0 has every sample's result (ode/evaluate.h)
  if (args.given("--out")) save_npy(args.str("--out"), Tensor::from(std::vector<float>(run.logp.begin(), run.logp.end()), {n}));
  std::vector<double> nll(run.logp.size());
  for (size_t i = 0; i < nll.size(); ++i) nll[i] = -run.logp[i];
  const MeanStderr m = mean_stderr(nll);
  const double dims = double(x.numel() / n);
  std::printf("NLL %.4f +- %.4f nats (%.4f nats/dim) on %lld samples of %s%s, %s divergence, %s, mean NFE %.1f, %.1f s\n",
              m.mean, m.stderr_, m.mean / dims, (long long)n, spec.c_str(), conditional_note(cond).c_str(), divergence.c_str(),
              describe_solver(opt.ode).c_str(), run.mean_nfe, run.seconds);
  ResultFields result{{"nll", m.mean}, {"nll_stderr", m.stderr_}, {"nll_per_dim", m.mean / dims},
                      {"nfe", run.mean_nfe}, {"n", n}, {"seconds", run.seconds}};
  write_hist(args, nll, "fm nll: NLL of " + std::to_string(n) + " samples of " + spec, "NLL (nats)");
  if (toy2d_has_log_density(spec)) {
    std::printf("true entropy of %s: %.4f nats\n", spec.c_str(), toy2d_entropy(spec));
    result.push_back({"entropy", toy2d_entropy(spec)});
  }
  if (args.on("--json")) std::printf("%s\n", json_line(result).c_str());
  return 0;
}

}  // namespace

int cmd_nll(int argc, char** argv) {
  Args args("fm nll",
            "Negative log-likelihood (nats) of data under a trained model, by the likelihood ODE; "
            "for an image model, bits per dimension of dequantised images.");
  args.opt("--ckpt", "", "model checkpoint (.safetensors) written by fm train")
      .opt("--data", "", "a 2-D toy name, a .npy/.csv file, fashion-mnist, mnist, cifar10, an IDX image file, a .npy "
                         "of images or a folder of PNGs (default: the data the model was trained on)")
      .opt("--split", "", "train or test split of fashion-mnist / mnist / cifar10 (default: test for image models, else train)")
      .opt("--data-dir", "", "directory of the IDX files of fashion-mnist / mnist, or of the CIFAR-10 binary files")
      .opt("--layout", "", "a .npy of images: nchw or nhwc (default: inferred)")
      .opt("--n", "10000", "number of data samples to evaluate (for a file or image set: at most its size)")
      .opt("--divergence", "", "exact (one VJP per dimension) or hutchinson (one VJP per probe); "
                               "default: hutchinson for images, exact otherwise")
      .opt("--probes", "1", "Hutchinson probes per sample")
      .opt("--probe", "rademacher", "Hutchinson probe distribution: rademacher or gaussian")
      .opt("--dequant", "1", "images: uniform dequantisation draws per image, importance-weighted (paper Table 4)")
      .opt("--batch", "", "samples per ODE solve (default: 64 for images, 2000 otherwise)")
      .opt("--seed", "0", "seed for toy data, dequantisation and the probes")
      .opt("--out", "", "also write each sample's log-likelihood (nats; images: each image's bpd) to this .npy file")
      .opt("--hist", "", "also draw the histogram of the per-sample NLL (nats; images: bits/dim) with its mean, as SVG")
      .opt("--labels", "", "class labels of a .npy/.csv or IDX image file given as --data (for --class-conditional)")
      .flag("--class-conditional", "class-conditional models: log p(x | y) under each sample's true label (the conditional "
                                   "field); without it, log p(x) under the unconditional field")
      .flag("--json", "print the results as one JSON line on stdout");
  add_device_option(args);
  add_solver_options(args);
  if (!args.parse(argc, argv, 2)) return 0;
  if (!args.given("--ckpt")) throw UsageError("--ckpt is required");

  const Device device = device_option(args);
  dist::bind_device(device);
  LoadedModel lm = load_checkpoint(args.str("--ckpt"));
  lm.model->to(device);
  const bool images = kind_of(model_sample_shape(lm.config)) == DataKind::Images;
  const std::string spec = args.given("--data") ? args.str("--data") : lm.metadata["data"];
  std::unique_ptr<Dataset> data = open_data(args, lm, spec, images);
  // Exact divergence costs D VJPs per evaluation: fine for D = 2, prohibitive for images.
  const std::string divergence = args.given("--divergence") ? args.str("--divergence") : images ? "hutchinson" : "exact";
  const FlowSolveOptions opt = nll_solve_options(args, lm, divergence);
  const int64_t batch = std::max<int64_t>(1, args.given("--batch") ? args.i64("--batch") : images ? 64 : 2000);
  // Toy data come from this stream; chunk c's dequantisation noise and probes from derive_seed(seed, c).
  const uint64_t seed = derive_seed(args.i64("--seed"), Stream::Nll);
  if (args.i64("--n") < 1) throw UsageError("--n must be positive");
  if (images) return nll_images(args, lm, *data, opt, divergence, batch, seed);
  if (args.given("--dequant")) throw UsageError("--dequant applies to image models only");
  return nll_points(args, lm, *data, spec, opt, divergence, batch, seed);
}

}  // namespace fm
