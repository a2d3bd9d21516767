// apps/cmd_nll.cpp: `fm nll`, the exact negative log-likelihood of data under a trained flow,
// by integrating [x, div] from t = 1 (data) to t = 0 (noise) (paper appendix C).
#include <cstdio>

#include "apps/commands.h"
#include "apps/common.h"
#include "flow/dataset.h"
#include "flow/toy2d.h"
#include "nn/checkpoint.h"
#include "nn/model.h"
#include "tensor/npy.h"

namespace fm {

int cmd_nll(int argc, char** argv) {
  Args args("fm nll", "Negative log-likelihood (nats) of data under a trained model, by the likelihood ODE.");
  args.opt("--ckpt", "", "model checkpoint (.safetensors) written by fm train")
      .opt("--data", "", "a 2-D toy name or a .npy/.csv file (default: the data the model was trained on)")
      .opt("--n", "10000", "number of data samples to evaluate (for a file: at most its size)")
      .opt("--divergence", "exact", "exact (one VJP per dimension) or hutchinson (one VJP per probe)")
      .opt("--probes", "1", "Hutchinson probes per sample")
      .opt("--probe", "rademacher", "Hutchinson probe distribution: rademacher or gaussian")
      .opt("--batch", "2000", "samples per ODE solve")
      .opt("--seed", "0", "seed for toy data and the probes")
      .opt("--out", "", "also write each sample's log-likelihood (nats) to this .npy file")
      .flag("--json", "print the results as one JSON line on stdout");
  add_solver_options(args);
  if (!args.parse(argc, argv, 2)) return 0;
  if (!args.given("--ckpt")) throw UsageError("--ckpt is required");

  LoadedModel lm = load_checkpoint(args.str("--ckpt"));
  std::string spec = args.given("--data") ? args.str("--data") : lm.metadata["data"];
  if (spec.empty()) throw UsageError("--data is required (the checkpoint does not name its data)");
  std::unique_ptr<Dataset> data = open_dataset(spec);
  if (data->sample_shape() != model_sample_shape(lm.config))
    throw std::runtime_error("data samples " + shape_str(data->sample_shape()) + " do not fit the model (" +
                             shape_str(model_sample_shape(lm.config)) + ")");

  FlowSolveOptions opt;
  opt.ode = solver_options(args);
  opt.divergence = parse_divergence(args.str("--divergence"));
  opt.probe = parse_probe(args.str("--probe"));
  opt.probes = static_cast<int>(args.i64("--probes"));
  if (opt.probes < 1) throw UsageError("--probes must be at least 1");
  opt.prior_std = prior_std_of(lm.metadata);
  Rng rng(derive_seed(args.i64("--seed"), 5));

  int64_t n = args.i64("--n");
  if (n < 1) throw UsageError("--n must be positive");
  // A file is evaluated row by row (its first n rows, each once); a toy gives fresh samples.
  Tensor x = data->size() > 0 ? data->head(std::min(n, data->size())) : data->batch(n, rng);
  n = x.dim(0);

  NllRun run = evaluate_logp(*lm.model, x, opt, std::max<int64_t>(1, args.i64("--batch")), rng, "nll");
  if (args.given("--out")) {
    std::vector<float> lp(run.logp.begin(), run.logp.end());
    save_npy(args.str("--out"), Tensor::from(lp, {int64_t(lp.size())}));
  }
  std::vector<double> nll(run.logp.size());
  for (size_t i = 0; i < nll.size(); ++i) nll[i] = -run.logp[i];
  MeanStderr m = mean_stderr(nll);
  double dims = double(x.numel() / x.dim(0));
  std::printf("NLL %.4f +- %.4f nats (%.4f nats/dim) on %lld samples of %s, %s divergence, %s, mean NFE %.1f, %.1f s\n",
              m.mean, m.stderr_, m.mean / dims, (long long)n, spec.c_str(), args.str("--divergence").c_str(),
              describe_solver(opt.ode).c_str(), run.mean_nfe, run.seconds);
  std::vector<std::pair<std::string, Json>> result{{"nll", m.mean}, {"nll_stderr", m.stderr_}, {"nll_per_dim", m.mean / dims},
                                                   {"nfe", run.mean_nfe}, {"n", n}, {"seconds", run.seconds}};
  if (toy2d_has_log_density(spec)) {
    std::printf("true entropy of %s: %.4f nats\n", spec.c_str(), toy2d_entropy(spec));
    result.push_back({"entropy", toy2d_entropy(spec)});
  }
  if (args.on("--json")) std::printf("%s\n", json_line(result).c_str());
  return 0;
}

}  // namespace fm
