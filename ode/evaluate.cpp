// ode/evaluate.cpp
#include "ode/evaluate.h"

#include <algorithm>
#include <chrono>
#include <numeric>
#include <stdexcept>

#include "dist/dist.h"

namespace fm {

FieldFn field_of(const FieldModel& model) {
  return [&model](const Var& x, const Tensor& t) { return model.forward(x, t); };
}

Tensor evaluate_field(const FieldModel& model, const Tensor& x, const Tensor& t, int64_t batch) {
  if (x.ndim() < 1 || t.numel() != x.dim(0))
    throw std::runtime_error("evaluate_field: " + std::to_string(t.numel()) + " times for x of shape " + shape_str(x.shape()) +
                             " (need one per row)");
  NoGradGuard no_grad;
  const int64_t n = x.dim(0);
  batch = std::max<int64_t>(1, batch);
  const Tensor times = t.reshape({n}).to(x.device());
  Tensor v = Tensor::empty(x.shape(), x.device());
  for (int64_t lo = 0; lo < n; lo += batch) {
    const int64_t hi = std::min(n, lo + batch);
    v.rows(lo, hi).copy_from(model.forward(Var(x.rows(lo, hi), false), times.rows(lo, hi)).value());
  }
  return v;
}

NllRun evaluate_logp(const FieldModel& model, const Tensor& x, const FlowSolveOptions& opt, int64_t batch, Rng& rng,
                     const NllProgress& progress) {
  NllRun run;
  auto start = std::chrono::steady_clock::now();
  const int64_t n = x.dim(0), chunks = (n + batch - 1) / batch;
  std::vector<int64_t> rows(static_cast<size_t>(chunks)), ones(static_cast<size_t>(chunks), 1);
  std::vector<double> nfe;  // per chunk of this rank
  FieldFn v = field_of(model);
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t lo = c * batch, hi = std::min(n, lo + batch);
    rows[size_t(c)] = hi - lo;
    Shape shape = x.shape();
    shape[0] = hi - lo;
    if (!dist::owns_chunk(c)) {  // another rank's: only the stream moves on
      skip_solve_draws(shape, opt, /*track=*/true, rng);
      continue;
    }
    FlowSolveResult r = log_likelihood(v, x.rows(lo, hi).clone(), opt, rng);
    run.logp.insert(run.logp.end(), r.logp.begin(), r.logp.end());
    nfe.push_back(double(r.stats.nfe));
    if (progress) progress(hi, run, r.stats.nfe);
  }
  run.logp = dist::gather_chunks(run.logp, rows);
  nfe = dist::gather_chunks(nfe, ones);
  run.mean_nfe = std::accumulate(nfe.begin(), nfe.end(), 0.0) / double(std::max<int64_t>(chunks, 1));
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

}  // namespace fm
