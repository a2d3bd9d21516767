// ode/evaluate.h: a trained model as the vector field of the ODE, the field itself on many points,
// and many samples solved chunk by chunk (one ODE solve per chunk, so memory stays bounded):
// their log-likelihoods, or samples drawn from noise. The solves run on the model's device.
//
// Chunks: rows [c batch, (c + 1) batch) are chunk c. Chunk c draws what it draws (Hutchinson's
// probes, dequantisation noise) from its own stream, Rng(derive_seed(seed, c)), so its numbers
// depend on neither the other chunks nor which process solves it. Under mpirun the chunks are dealt
// among the processes (dist/dist.h) and rank 0 gathers every row's result: the same as one
// process's. The other ranks get empty results.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "nn/module.h"
#include "ode/likelihood.h"

namespace fm {

// The FieldFn of ode/likelihood.h for `model`, which must outlive it (no stochastic layers).
FieldFn field_of(const FieldModel& model);

// Class conditioning of a many-sample solve (nn/class_embedding.h): row i follows the guided field
// v_w(x, t | labels[i]) = (1 + w) v(x, t | y) - w v(x, t | ∅), w = guidance (w = 0: the
// conditional field). Without labels the rows follow the model's own field (for a conditional
// model, the unconditional one).
struct ClassCondition {
  std::vector<int64_t> labels;  // 0..K-1, one per row of the solve
  double guidance = 0.0;
};

// The field that rows [lo, hi) of a many-sample solve follow; the labels' one-hot rows are built
// once, here. Throws for labels on a model without classes, or out of its range.
FieldFn field_of_rows(const FieldModel& model, const ClassCondition& cond, int64_t lo, int64_t hi);

// v(x_i, t_i) for every row of `x` (on the model's device), `batch` rows per forward pass, no graph
// recorded: what `fm field` writes. t holds one time per row ([N] or [N, 1], on any device). The
// result has x's shape and device.
Tensor evaluate_field(const FieldModel& model, const Tensor& x, const Tensor& t, int64_t batch, const ClassCondition& cond = {});

// The chunk loop behind every many-sample solve: calls solve(c, lo, hi, rng) for each chunk c of
// this process's, in order, rng being the chunk's own stream. Returns every chunk's row count (for
// dist::gather_chunks). batch < 1 is taken as 1.
using ChunkSolve = std::function<void(int64_t c, int64_t lo, int64_t hi, Rng& rng)>;
std::vector<int64_t> for_each_chunk(int64_t n, int64_t batch, uint64_t seed, const ChunkSolve& solve);

// The result of a many-sample solve. On rank 0 (or in one process): x (sample_many) and logp for
// every row, in order.
struct SolveRun {
  Tensor x;                  // sample_many: the samples [N, ...], on the host
  std::vector<double> logp;  // log p1 of each row in nats (sample_many: with track_logp)
  double mean_nfe = 0.0;     // field evaluations per chunk, averaged over the chunks
  double seconds = 0.0;
};

// Called after each of this process's chunks with the rows done so far (of x's), the result so far
// and that chunk's NFE: for progress bars.
using SolveProgress = std::function<void(int64_t done, const SolveRun& so_far, int64_t nfe)>;

// log p1 of each row of `x`, in chunks of `batch` rows.
SolveRun evaluate_logp(const FieldModel& model, const Tensor& x, const FlowSolveOptions& opt, int64_t batch, uint64_t seed,
                       const SolveProgress& progress = {}, const ClassCondition& cond = {});

// Samples from each row of the noise `x0`, in chunks of `batch` rows; with track_logp, also each
// sample's log p1.
SolveRun sample_many(const FieldModel& model, const Tensor& x0, const FlowSolveOptions& opt, int64_t batch, uint64_t seed,
                     bool track_logp, const SolveProgress& progress = {}, const ClassCondition& cond = {});

}  // namespace fm
