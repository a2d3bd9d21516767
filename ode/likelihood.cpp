// ode/likelihood.cpp
#include "ode/likelihood.h"

#include <cmath>
#include <stdexcept>

#include "tensor/ops.h"

namespace fm {

Divergence parse_divergence(const std::string& name) {
  if (name == "exact") return Divergence::Exact;
  if (name == "hutchinson") return Divergence::Hutchinson;
  throw std::runtime_error("unknown divergence '" + name + "' (choose exact or hutchinson)");
}

Probe parse_probe(const std::string& name) {
  if (name == "rademacher") return Probe::Rademacher;
  if (name == "gaussian") return Probe::Gaussian;
  throw std::runtime_error("unknown probe '" + name + "' (choose rademacher or gaussian)");
}

std::vector<double> gaussian_log_density(const Tensor& x, double s) {
  const int64_t B = x.dim(0), D = B ? x.numel() / B : 0;
  std::vector<double> out = row_sum_squares(x);
  const double norm = -0.5 * double(D) * std::log(2.0 * M_PI * s * s);
  for (double& sq : out) sq = norm - 0.5 * sq / (s * s);
  return out;
}

MeanStderr mean_stderr(const std::vector<double>& v) {
  double n = double(v.size()), m = 0.0, ss = 0.0;
  for (double x : v) m += x;
  m /= std::max(n, 1.0);
  for (double x : v) ss += (x - m) * (x - m);
  double var = n > 1 ? ss / (n - 1) : 0.0;
  return {m, std::sqrt(var / std::max(n, 1.0))};
}

namespace {

// Hutchinson probes: drawn once per solve and held fixed (a fixed z makes the integrand a
// smooth function of t, which the adaptive solver needs).
std::vector<Tensor> solve_probes(const Shape& shape, Device device, const FlowSolveOptions& opt, bool track, Rng& rng) {
  std::vector<Tensor> probes;
  if (!track || opt.divergence != Divergence::Hutchinson) return probes;
  if (opt.probes < 1) throw std::runtime_error("need at least one Hutchinson probe");
  for (int k = 0; k < opt.probes; ++k) {
    Tensor z = Tensor::empty(shape, device);
    if (opt.probe == Probe::Rademacher) rng.rademacher(z); else rng.normal(z);
    probes.push_back(z);
  }
  return probes;
}

// Integrates the augmented state [x, L] from t0 to t1 with dL/dt = div v (when tracking). The
// state is one flat tensor on x's device; x and L are views into it (rows), never copies.
FlowSolveResult solve(const FieldFn& v, const Tensor& x_start, double t0, double t1, const FlowSolveOptions& opt,
                      Rng& rng, bool track) {
  const Device device = x_start.device();
  const Shape shape = x_start.shape();
  const int64_t B = shape[0], n = x_start.numel(), D = B ? n / B : 0;
  Tensor y = Tensor::zeros({n + (track ? B : 0)}, device);
  y.rows(0, n).copy_from(x_start);

  std::vector<Tensor> probes = solve_probes(shape, device, opt, track, rng);
  Tensor tvec = Tensor::empty({B}, device);
  Tensor onehot;  // exact divergence: e_i for every sample, as [B, D]
  if (track && opt.divergence == Divergence::Exact) onehot = Tensor::zeros({B, D}, device);

  OdeRhs rhs = [&](double t, const Tensor& yin, Tensor& dy) {
    tvec.fill(static_cast<float>(t));
    const Tensor xin = yin.rows(0, n).reshape(shape);
    Tensor dx = dy.rows(0, n);
    if (!track) {
      NoGradGuard no_grad;
      dx.copy_from(v(Var(xin), tvec).value());
      return;
    }
    Var x(xin, /*requires_grad=*/true);
    Var out = v(x, tvec);
    dx.copy_from(out.value());
    Tensor div = dy.rows(n, n + B);
    div.fill(0.0f);
    if (opt.divergence == Divergence::Exact) {
      // div = sum_i (e_i^T dv/dx)_i: one VJP per dimension, reading back the diagonal entry.
      for (int64_t i = 0; i < D; ++i) {
        slice_fill_(onehot, 1, i, i + 1, 1.0f);
        Tensor g = vjp(out, {x}, onehot.reshape(shape), /*retain_graph=*/i + 1 < D)[0];
        slice_fill_(onehot, 1, i, i + 1, 0.0f);
        add_column_(div, g, i);
      }
    } else {
      for (size_t k = 0; k < probes.size(); ++k) {
        Tensor g = vjp(out, {x}, probes[k], /*retain_graph=*/k + 1 < probes.size())[0];
        row_dot_add_(div, g, probes[k], 1.0f / float(probes.size()));
      }
    }
  };

  std::vector<int64_t> parts{n};
  if (track) parts.push_back(B);  // torchdiffeq's mixed norm over the tuple (x, L)
  FlowSolveResult res;
  res.stats = odeint(rhs, y, t0, t1, opt.ode, parts);
  res.x = y.rows(0, n).reshape(shape).clone();
  if (track) {
    // L_end = int_{t0}^{t1} div dt; log p1(x1) = log p0(x0) - int_0^1 div dt.
    const Tensor& x0 = t1 < t0 ? res.x : x_start;
    std::vector<double> lp0 = gaussian_log_density(x0, opt.prior_std);
    const std::vector<float> L = y.rows(n, n + B).to_vector();
    double sign = t1 < t0 ? -1.0 : 1.0;  // int_0^1 = -int_1^0
    res.logp.resize(B);
    for (int64_t b = 0; b < B; ++b) res.logp[b] = lp0[b] - sign * double(L[b]);
  }
  return res;
}

}  // namespace

FlowSolveResult log_likelihood(const FieldFn& v, const Tensor& x1, const FlowSolveOptions& opt, Rng& rng) {
  return solve(v, x1, 1.0, 0.0, opt, rng, /*track=*/true);
}

FlowSolveResult sample_flow(const FieldFn& v, const Tensor& x0, const FlowSolveOptions& opt, Rng& rng, bool track_logp) {
  return solve(v, x0, 0.0, 1.0, opt, rng, track_logp);
}

}  // namespace fm
