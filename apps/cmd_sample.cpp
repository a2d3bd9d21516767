// apps/cmd_sample.cpp: `fm sample`, noise -> data by solving dx/dt = v(x, t) from t = 0 to 1.
// With --logp the divergence is integrated along the same solve, giving every sample's
// log-likelihood log p1(x1) = log p0(x0) - int_0^1 div v dt without a second solve.
// For an image model the first 64 samples are also drawn as an 8 x 8 PNG grid.
#include <cstdio>
#include <filesystem>
#include <numeric>

#include "apps/commands.h"
#include "apps/common.h"
#include "apps/png.h"
#include "apps/progress.h"
#include "dist/dist.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "ode/evaluate.h"
#include "tensor/ops.h"
#include "tensor/io/npy.h"

namespace fm {

int cmd_sample(int argc, char** argv) {
  Args args("fm sample", "Generate samples from a trained model by solving its ODE from noise (t = 0) to data (t = 1).");
  args.opt("--ckpt", "", "model checkpoint (.safetensors) written by fm train")
      .opt("--n", "", "number of samples (default: 64 for images, 10000 otherwise)")
      .opt("--out", "samples.npy", "where to write the samples (.npy, N x D or N x C x H x W, unclamped)")
      .opt("--png", "", "also draw the samples into this PNG (2-D: a density picture; images: an 8 x 8 grid of "
                        "the first 64, written to <out stem>.png by default)")
      .opt("--x0", "", "start from this noise (.npy, N x D or N x C x H x W) instead of drawing it")
      .opt("--batch", "", "samples per ODE solve (default: 64 for images, 10000 otherwise)")
      .opt("--seed", "0", "seed for the noise and the Hutchinson probes")
      .opt("--divergence", "exact", "with --logp: exact or hutchinson")
      .opt("--probes", "1", "with --divergence hutchinson: probes per sample")
      .flag("--logp", "also integrate the divergence and write each sample's log-likelihood to <out>.logp.npy")
      .flag("--json", "print the results as one JSON line on stdout");
  add_device_option(args);
  add_solver_options(args);
  if (!args.parse(argc, argv, 2)) return 0;
  if (!args.given("--ckpt")) throw UsageError("--ckpt is required");

  const Device device = device_option(args);
  dist::bind_device(device);
  LoadedModel lm = load_checkpoint(args.str("--ckpt"));
  lm.model->to(device);
  Shape sample_shape = model_sample_shape(lm.config);
  const bool images = sample_shape.size() == 3;  // [C, H, W]
  FlowSolveOptions opt;
  opt.ode = solver_options(args);
  opt.divergence = parse_divergence(args.str("--divergence"));
  opt.probes = static_cast<int>(args.i64("--probes"));
  opt.prior_std = prior_std_of(lm.metadata);
  opt.device = device;
  Rng rng(derive_seed(args.i64("--seed"), Stream::Sample));

  Tensor x0;
  if (args.given("--x0")) {
    x0 = load_npy(args.str("--x0"));
    Shape want = sample_shape;
    want.insert(want.begin(), x0.ndim() ? x0.dim(0) : 0);
    if (x0.shape() != want)
      throw std::runtime_error(args.str("--x0") + ": noise of shape " + shape_str(x0.shape()) + " does not fit the model (" +
                               shape_str(want) + ")");
  } else {
    Shape s = sample_shape;
    s.insert(s.begin(), args.given("--n") ? args.i64("--n") : images ? 64 : 10000);
    if (s[0] < 1) throw UsageError("--n must be positive");
    x0 = Tensor::empty(s);
    rng.normal(x0, 0.0f, float(opt.prior_std));
  }
  const int64_t n = x0.dim(0);
  const int64_t batch = std::max<int64_t>(1, args.given("--batch") ? args.i64("--batch") : images ? 64 : 10000);
  const bool track = args.on("--logp");

  // In chunks of `batch`; under mpirun the chunks are dealt among the ranks (dist/dist.h) and
  // gathered on rank 0, which alone writes: the same samples as one process.
  std::vector<Tensor> mine;
  std::vector<double> logp, nfe;
  std::vector<int64_t> rows, ones;
  Progress bar("sample", n);
  FieldFn v = field_of(*lm.model);
  for (int64_t lo = 0, c = 0; lo < n; lo += batch, ++c) {
    const int64_t hi = std::min(n, lo + batch);
    rows.push_back(hi - lo);
    ones.push_back(1);
    const Tensor chunk = x0.rows(lo, hi);
    if (!dist::owns_chunk(c)) {
      skip_solve_draws(chunk.shape(), opt, track, rng);
      continue;
    }
    FlowSolveResult r = sample_flow(v, chunk, opt, rng, track);
    mine.push_back(r.x.to(Device::CPU));
    logp.insert(logp.end(), r.logp.begin(), r.logp.end());
    nfe.push_back(double(r.stats.nfe));
    bar.update(hi, "nfe " + std::to_string(r.stats.nfe));
  }
  bar.finish();
  const Tensor xs = dist::gather_chunk_rows(mine.empty() ? x0.rows(0, 0) : concat(mine, 0), rows);
  logp = dist::gather_chunks(logp, rows);
  nfe = dist::gather_chunks(nfe, ones);
  if (!dist::is_root()) return 0;
  const double mean_nfe = std::accumulate(nfe.begin(), nfe.end(), 0.0) / double(nfe.size());
  const std::string out = args.str("--out");
  save_npy(out, xs);
  std::fprintf(stderr, "wrote %lld samples to %s with %s, mean NFE %.1f\n", (long long)n, out.c_str(),
               describe_solver(opt.ode).c_str(), mean_nfe);
  std::vector<std::pair<std::string, Json>> result{{"n", n}, {"nfe", mean_nfe}};
  if (track) {
    std::string lp_path = (std::filesystem::path(out).replace_extension("").string()) + ".logp.npy";
    std::vector<float> lpf(logp.begin(), logp.end());
    save_npy(lp_path, Tensor::from(lpf, {n}));
    MeanStderr m = mean_stderr(logp);
    std::fprintf(stderr, "wrote log-likelihoods to %s: mean log p %.4f +- %.4f nats\n", lp_path.c_str(), m.mean, m.stderr_);
    result.push_back({"logp", m.mean});
    result.push_back({"logp_stderr", m.stderr_});
  }
  if (images) {
    const std::string png = args.given("--png") ? args.str("--png") : std::filesystem::path(out).replace_extension(".png").string();
    int width = 0, height = 0;
    std::vector<uint8_t> grid = image_grid_rgb(xs.rows(0, std::min<int64_t>(n, 64)), 8, &width, &height);  // clamps to [-1, 1]
    write_png(png, width, height, 3, grid.data());
    std::fprintf(stderr, "wrote %s (the first %lld samples)\n", png.c_str(), (long long)std::min<int64_t>(n, 64));
  } else if (args.given("--png")) {
    if (sample_shape != Shape{2}) throw std::runtime_error("--png draws 2-D samples; this model's samples are " + shape_str(sample_shape));
    int size = 512;
    std::vector<uint8_t> pic = density_image_rgb(xs.data(), n, size, -4.5f, 4.5f);
    write_png(args.str("--png"), size, size, 3, pic.data());
    std::fprintf(stderr, "wrote %s\n", args.str("--png").c_str());
  }
  if (args.on("--json")) std::printf("%s\n", json_line(result).c_str());
  return 0;
}

}  // namespace fm
