// ode/bpd.h: bits per dimension for images (paper appendix; FFJORD's convention).
//
// Pixels x in {0, ..., 255}^D are dequantised with uniform noise and mapped to the model's
// space [-1, 1]:  y = 2 (x + u) / 256 - 1,  u ~ U[0, 1)^D.
// The map y -> x + u = 128 (y + 1) has Jacobian 128 per dimension, so the density of x + u on
// [0, 256)^D is p(y) / 128^D and
//     bpd = -log2 p(x + u) / D = -log p(y) / (D ln 2) + log2(128) = -log p(y) / (D ln 2) + 7.
// With K dequantisation draws per image the importance-weighted estimate
//     log p(x) ~ log (1/K) sum_k p(x + u_k)
// is a tighter bound (paper Table 4).
#pragma once
#include <functional>
#include <vector>

#include "ode/evaluate.h"

namespace fm {

// y = 2 (x + u) / 256 - 1 for pixels x in [0, 255] (any shape).
Tensor dequantize(const Tensor& pixels, Rng& rng);

// bits per dimension of one image from log p(y) in nats.
double bits_per_dim(double logp_y, int64_t dims);

// log (1/K) sum_k exp(logp[k]) for each image: logp_draws[k][i] is draw k of image i.
std::vector<double> importance_weighted_logp(const std::vector<std::vector<double>>& logp_draws);

// The whole pipeline, pixels -> bits/dim of each image.
struct BpdResult {
  std::vector<double> bpd;  // one per image, in order
  double mean_nfe = 0.0;    // function evaluations per ODE solve, averaged over the solves
  int64_t solves = 0;       // ODE solves run: chunks x draws
};

// Called after every ODE solve with the image-draws done so far (out of N x dequant), the
// result so far (bpd of the chunks already finished) and that solve's NFE: for progress bars.
using BpdProgress = std::function<void(int64_t done, const BpdResult& so_far, int64_t nfe)>;

// Bits/dim of each image of `pixels` [N, ...] (integer values 0..255) under the flow v, solved on
// the pixels' device (pass them on the field's). The images go through the likelihood ODE in chunks
// of `batch`; each chunk is dequantised `dequant` (K >= 1) times, one solve per draw, and the draws
// are combined by importance weighting. Chunk c draws its dequantisation noise and Hutchinson
// probes from its own stream, derive_seed(seed, c), in that order per draw (ode/evaluate.h's
// chunks, dealt among the processes under mpirun: rank 0 gets every image's bpd).
BpdResult image_bpd(const FieldFn& v, const Tensor& pixels, const FlowSolveOptions& opt, int dequant, int64_t batch,
                    uint64_t seed, const BpdProgress& progress = {});
// The same with a field per chunk: field_of_rows(lo, hi) is what images [lo, hi) follow (a
// class-conditional model's field bound to their labels: ode/evaluate.h's field_of_rows).
using RowsField = std::function<FieldFn(int64_t lo, int64_t hi)>;
BpdResult image_bpd(const RowsField& field_of_rows, const Tensor& pixels, const FlowSolveOptions& opt, int dequant,
                    int64_t batch, uint64_t seed, const BpdProgress& progress = {});

}  // namespace fm
