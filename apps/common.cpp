// apps/common.cpp
#include "apps/common.h"

#include <cmath>
#include <cstdio>

#include "apps/pictures.h"
#include "apps/progress.h"

namespace fm {

void add_solver_options(Args& args, const std::string& default_solver) {
  args.opt("--solver", default_solver, "ODE solver: dopri5 (adaptive), rk4, midpoint, heun or euler")
      .opt("--steps", "100", "number of steps for the fixed-step solvers")
      .opt("--rtol", "1e-5", "dopri5 relative tolerance")
      .opt("--atol", "1e-5", "dopri5 absolute tolerance")
      .opt("--max-nfe", "10000", "dopri5: stop with an error naming t and the step size after this many field "
                                 "evaluations per solve (a collapsing step size would otherwise run for hours); 0 = no limit");
}

void add_device_option(Args& args) {
  args.opt("--device", "cpu", "where to run: cpu or cuda (an NVIDIA GPU; checkpoints are the same files on both)");
}

Device device_option(const Args& args) {
  const Device d = parse_device(args.str("--device"));
  require_usable(d);
  return d;
}

OdeOptions solver_options(const Args& args) {
  OdeOptions o;
  o.method = parse_method(args.str("--solver"));
  o.steps = args.i64("--steps");
  o.rtol = args.f64("--rtol");
  o.atol = args.f64("--atol");
  if (o.steps < 1) throw UsageError("--steps must be at least 1");
  if (!(o.rtol > 0) || !(o.atol > 0)) throw UsageError("--rtol and --atol must be positive");
  o.max_nfe = args.i64("--max-nfe");
  if (o.max_nfe < 0) throw UsageError("--max-nfe must be 0 (no limit) or positive");
  return o;
}

std::string describe_solver(const OdeOptions& o) {
  char buf[96];
  if (is_adaptive(o.method))
    std::snprintf(buf, sizeof buf, "%s (rtol %g, atol %g)", method_name(o.method), o.rtol, o.atol);
  else
    std::snprintf(buf, sizeof buf, "%s (%lld steps)", method_name(o.method), static_cast<long long>(o.steps));
  return buf;
}


SolveRun evaluate_logp_with_bar(const FieldModel& model, const Tensor& x, const FlowSolveOptions& opt, int64_t batch,
                                uint64_t seed, const std::string& label, const ClassCondition& cond) {
  Progress bar(label, x.dim(0));
  SolveRun run = evaluate_logp(model, x, opt, batch, seed, [&](int64_t done, const SolveRun& so_far, int64_t nfe) {
    MeanStderr m = mean_stderr(so_far.logp);
    char extra[96];
    std::snprintf(extra, sizeof extra, "nll %.4f | nfe %lld", -m.mean, static_cast<long long>(nfe));
    bar.update(done, extra);
  }, cond);
  bar.finish();
  return run;
}

void write_2d_comparison_png(const std::string& path, const Tensor& model_xy, const Tensor& data_xy, int size) {
  // A common square window that holds 99.5% of the data in each coordinate, with a margin.
  const Tensor model_host = model_xy.to(Device::CPU), data_host = data_xy.to(Device::CPU);
  float lim = 1.0f;
  for (int64_t i = 0; i < data_host.numel(); ++i) lim = std::max(lim, std::fabs(data_host.data()[i]));
  lim = std::min(lim * 1.1f, 10.0f);
  std::vector<std::vector<uint8_t>> pics{density_image_rgb(model_host.data(), model_host.dim(0), size, -lim, lim),
                                         density_image_rgb(data_host.data(), data_host.dim(0), size, -lim, lim)};
  int width = 0;
  std::vector<uint8_t> both = hconcat_rgb(pics, size, size, 8, &width);
  write_png(path, width, size, 3, both.data());
}

std::string json_line(const ResultFields& fields) {
  Json obj = Json::Object{};
  for (const auto& [k, v] : fields) obj.set(k, v);
  return to_json(obj);
}

}  // namespace fm
