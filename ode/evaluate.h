// ode/evaluate.h: a trained model as the vector field of the ODE, the field itself on many points,
// and the log-likelihoods of many samples, solved chunk by chunk (one likelihood solve per chunk, so
// memory stays bounded).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "nn/module.h"
#include "ode/likelihood.h"

namespace fm {

// The FieldFn of ode/likelihood.h for `model`, which must outlive it.
FieldFn field_of(const FieldModel& model);

// v(x_i, t_i) for every row of `x` (on the model's device), `batch` rows per forward pass, no graph
// recorded: what `fm field` writes. t holds one time per row ([N] or [N, 1], on any device). The
// result has x's shape and device.
Tensor evaluate_field(const FieldModel& model, const Tensor& x, const Tensor& t, int64_t batch);

// Log-likelihoods of every row of `x`, with the mean NFE per chunk and the time taken.
struct NllRun {
  std::vector<double> logp;
  double mean_nfe = 0.0;
  double seconds = 0.0;
};

// Called after each chunk with the rows done so far (of x's), the result so far and that
// chunk's NFE: for progress bars.
using NllProgress = std::function<void(int64_t done, const NllRun& so_far, int64_t nfe)>;

// log p1 of each row of `x`, solved in chunks of `batch` rows, in order; probes (Hutchinson) come
// from `rng` chunk by chunk, so a seed and a batch size fix the result. Under mpirun every rank
// calls it with the same x: the chunks are dealt among the ranks (dist/dist.h), rank 0 gets every
// row's result, the same as one process's, and the other ranks an empty logp; `progress` sees
// the rank's own chunks.
NllRun evaluate_logp(const FieldModel& model, const Tensor& x, const FlowSolveOptions& opt, int64_t batch, Rng& rng,
                     const NllProgress& progress = {});

}  // namespace fm
