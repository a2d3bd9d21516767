// ode/likelihood.h: sampling and exact likelihoods of a flow by integrating its ODE.
//
// A vector field v(x, t) defines the flow dx/dt = v(x_t, t) from noise (t = 0) to data (t = 1).
// By the instantaneous change of variables (paper appendix C; FFJORD), along a trajectory
//     d/dt log p_t(x_t) = -div v(x_t, t),
// so with the augmented state [x, L], dL/dt = div v, integrated from data x1 at t = 1 down to
// t = 0 (L(1) = 0):
//     log p1(x1) = log p0(x0) - int_0^1 div v dt = log p0(x0) + L(0).
// The same integral can ride along a sampling solve (t = 0 -> 1), which gives each generated
// sample's log-likelihood at no extra solve.
//
// The divergence is either exact (one vector-Jacobian product per data dimension, with the
// one-hot cotangents e_i: div v = sum_i e_i^T (dv/dx) e_i) or Hutchinson's estimate
// div v ~ (1/K) sum_k z_k^T (dv/dx) z_k with E[z z^T] = I (K probes, Rademacher or Gaussian,
// drawn once per solve and held fixed, one VJP per probe per evaluation).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "autodiff/var.h"
#include "ode/solver.h"
#include "tensor/random.h"

namespace fm {

// v(x, t) for a batch x [B, ...] and times t [B]. Built from autodiff ops so VJPs work.
using FieldFn = std::function<Var(const Var& x, const Tensor& t)>;

enum class Divergence { Exact, Hutchinson };
enum class Probe { Rademacher, Gaussian };
Divergence parse_divergence(const std::string& name);  // "exact" | "hutchinson"
Probe parse_probe(const std::string& name);            // "rademacher" | "gaussian"

struct FlowSolveOptions {
  OdeOptions ode;
  Divergence divergence = Divergence::Exact;
  Probe probe = Probe::Rademacher;
  int probes = 1;
  double prior_std = 1.0;  // p0 = N(0, prior_std^2 I)
};

struct FlowSolveResult {
  Tensor x;                  // the end point: x0 for a likelihood solve, x1 for sampling
  std::vector<double> logp;  // log p1(x1) per sample, in nats (empty when not tracked)
  OdeStats stats;
};

// Both solves run where their input is (pass it on the field's device) and draw from `rng` only
// Hutchinson's probes.
// log p1(x1) for each row of x1 (one batched solve from t = 1 to 0).
FlowSolveResult log_likelihood(const FieldFn& v, const Tensor& x1, const FlowSolveOptions& opt, Rng& rng);

// Transports noise x0 from t = 0 to t = 1; with track_logp, also log p1 of each sample.
FlowSolveResult sample_flow(const FieldFn& v, const Tensor& x0, const FlowSolveOptions& opt, Rng& rng, bool track_logp);

// log N(x; 0, s^2 I) for each row of x.
std::vector<double> gaussian_log_density(const Tensor& x, double s);

struct MeanStderr {
  double mean, stderr_;
};
MeanStderr mean_stderr(const std::vector<double>& values);

}  // namespace fm
