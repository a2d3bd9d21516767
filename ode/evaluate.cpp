// ode/evaluate.cpp
#include "ode/evaluate.h"

#include <algorithm>
#include <chrono>
#include <numeric>
#include <stdexcept>

#include "dist/dist.h"
#include "nn/class_embedding.h"
#include "tensor/ops.h"

namespace fm {

FieldFn field_of(const FieldModel& model) {
  return [&model](const Var& x, const Tensor& t) { return model.forward(x, t); };
}

FieldFn field_of_rows(const FieldModel& model, const ClassCondition& cond, int64_t lo, int64_t hi) {
  if (cond.labels.empty()) return field_of(model);
  const int64_t K = model.num_classes();
  if (K < 1) throw std::runtime_error("class labels given for a model without classes (train it with fm train --conditional)");
  if (int64_t(cond.labels.size()) < hi) throw std::runtime_error("field_of_rows: fewer labels than rows");
  for (int64_t i = lo; i < hi; ++i)
    if (cond.labels[size_t(i)] < 0 || cond.labels[size_t(i)] >= K)
      throw std::runtime_error("class " + std::to_string(cond.labels[size_t(i)]) + " (row " + std::to_string(i) +
                               ") is out of range: the model has " + std::to_string(K) + " classes, 0.." + std::to_string(K - 1));
  const std::vector<int64_t> rows(cond.labels.begin() + lo, cond.labels.begin() + hi);
  const Tensor onehot = guidance_onehot(rows, K, cond.guidance, model.device());
  const double w = cond.guidance;
  return [&model, onehot, w](const Var& x, const Tensor& t) { return guided_forward(model, x, t, onehot, w); };
}

Tensor evaluate_field(const FieldModel& model, const Tensor& x, const Tensor& t, int64_t batch, const ClassCondition& cond) {
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
    v.rows(lo, hi).copy_from(field_of_rows(model, cond, lo, hi)(Var(x.rows(lo, hi), false), times.rows(lo, hi)).value());
  }
  return v;
}

std::vector<int64_t> for_each_chunk(int64_t n, int64_t batch, uint64_t seed, const ChunkSolve& solve) {
  batch = std::max<int64_t>(1, batch);
  std::vector<int64_t> rows;
  for (int64_t lo = 0, c = 0; lo < n; lo += batch, ++c) {
    const int64_t hi = std::min(n, lo + batch);
    rows.push_back(hi - lo);
    if (!dist::owns_chunk(c)) continue;
    Rng rng(derive_seed(seed, uint64_t(c)));
    solve(c, lo, hi, rng);
  }
  return rows;
}

namespace {

using Clock = std::chrono::steady_clock;

// Gathers a run's per-chunk results on rank 0: the log-likelihoods by rows, the NFEs one per chunk.
void gather(SolveRun& run, const std::vector<int64_t>& rows, std::vector<double> nfe, Clock::time_point start) {
  run.logp = dist::gather_chunks(run.logp, rows);
  nfe = dist::gather_chunks(nfe, std::vector<int64_t>(rows.size(), 1));
  run.mean_nfe = std::accumulate(nfe.begin(), nfe.end(), 0.0) / double(std::max<size_t>(rows.size(), 1));
  run.seconds = std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

SolveRun evaluate_logp(const FieldModel& model, const Tensor& x, const FlowSolveOptions& opt, int64_t batch, uint64_t seed,
                       const SolveProgress& progress, const ClassCondition& cond) {
  const auto start = Clock::now();
  SolveRun run;
  std::vector<double> nfe;  // per chunk of this process's
  const std::vector<int64_t> rows = for_each_chunk(x.dim(0), batch, seed, [&](int64_t, int64_t lo, int64_t hi, Rng& rng) {
    const FieldFn v = field_of_rows(model, cond, lo, hi);
    FlowSolveResult r = log_likelihood(v, x.rows(lo, hi).to(model.device()).clone(), opt, rng);
    run.logp.insert(run.logp.end(), r.logp.begin(), r.logp.end());
    nfe.push_back(double(r.stats.nfe));
    if (progress) progress(hi, run, r.stats.nfe);
  });
  gather(run, rows, nfe, start);
  return run;
}

SolveRun sample_many(const FieldModel& model, const Tensor& x0, const FlowSolveOptions& opt, int64_t batch, uint64_t seed,
                     bool track_logp, const SolveProgress& progress, const ClassCondition& cond) {
  const auto start = Clock::now();
  SolveRun run;
  std::vector<double> nfe;
  std::vector<Tensor> mine;  // this process's samples, chunk by chunk, on the host
  const std::vector<int64_t> rows = for_each_chunk(x0.dim(0), batch, seed, [&](int64_t, int64_t lo, int64_t hi, Rng& rng) {
    const FieldFn v = field_of_rows(model, cond, lo, hi);
    FlowSolveResult r = sample_flow(v, x0.rows(lo, hi).to(model.device()), opt, rng, track_logp);
    mine.push_back(r.x.to(Device::CPU));
    run.logp.insert(run.logp.end(), r.logp.begin(), r.logp.end());
    nfe.push_back(double(r.stats.nfe));
    if (progress) progress(hi, run, r.stats.nfe);
  });
  run.x = dist::gather_chunk_rows(mine.empty() ? x0.rows(0, 0).to(Device::CPU) : concat(mine, 0), rows);
  gather(run, rows, nfe, start);
  return run;
}

}  // namespace fm
