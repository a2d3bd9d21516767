// ode/evaluate.cpp
#include "ode/evaluate.h"

#include <algorithm>
#include <chrono>

namespace fm {

FieldFn field_of(const FieldModel& model) {
  return [&model](const Var& x, const Tensor& t) { return model.forward(x, t); };
}

NllRun evaluate_logp(const FieldModel& model, const Tensor& x, const FlowSolveOptions& opt, int64_t batch, Rng& rng,
                     const NllProgress& progress) {
  NllRun run;
  auto start = std::chrono::steady_clock::now();
  int64_t n = x.dim(0), chunks = (n + batch - 1) / batch;
  double nfe = 0.0;
  FieldFn v = field_of(model);
  for (int64_t c = 0; c < chunks; ++c) {
    int64_t lo = c * batch, hi = std::min(n, lo + batch);
    FlowSolveResult r = log_likelihood(v, x.rows(lo, hi).clone(), opt, rng);
    run.logp.insert(run.logp.end(), r.logp.begin(), r.logp.end());
    nfe += double(r.stats.nfe);
    if (progress) progress(hi, run, r.stats.nfe);
  }
  run.mean_nfe = nfe / double(std::max<int64_t>(chunks, 1));
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

}  // namespace fm
