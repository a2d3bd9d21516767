// tests/test_likelihood.cpp: the likelihood ODE against closed form.
//
// For data x1 ~ N(mu, diag(s^2)) the CondOT path keeps every marginal Gaussian:
//   x_t = a x0 + t x1,  a = 1 - (1 - sigma_min) t   =>   p_t = N(t mu, diag(a^2 + t^2 s^2)),
// and the marginal vector field that generates it is, per dimension d,
//   u_t(x) = mu + k_d(t) (x - t mu),   k_d(t) = (a a' + t s_d^2) / (a^2 + t^2 s_d^2),  a' = -(1 - sigma_min).
// So the flow's model density at t = 1 is exactly N(mu, diag(sigma_min^2 + s^2)).
// Any affine path x_t = a(t) x0 + b(t) x1 (flow/path.h) does the same with p_t = N(b mu, a^2 + b^2 s^2):
//   u_t(x) = b' mu + k_d(t) (x - b mu),   k_d(t) = (a a' + b b' s_d^2) / (a^2 + b^2 s_d^2),
// and the model density at t = 1 is N(b(1) mu, diag(a(1)^2 + b(1)^2 s^2)), with the prior N(0, I)
// exact when a(0) = 1 and b(0) = 0 (CondOT and the affine schedulers, not vp or ve).
// To make the Jacobian non-diagonal (else a Rademacher probe gives the trace exactly), the
// covariance is rotated by a Householder reflection R = I - 2 w w^T / |w|^2 (R = R^T = R^-1):
// data R z with z ~ N(R mu, diag(s^2)), field u = mu + R K R (x - t mu).
#include <doctest/doctest.h>

#include <cmath>

#include "autodiff/ops.h"
#include "flow/path.h"
#include "ode/likelihood.h"

using namespace fm;

namespace {

struct GaussianField {
  std::vector<float> mu, s;
  double sigma_min = 1e-4;
  const ProbPath* path = nullptr;  // nullptr: CondOT with sigma_min, written out below

  ProbPath::Coeffs coeffs(double t) const {
    if (path) return path->coeffs(t);
    return {1.0 - (1.0 - sigma_min) * t, t, -(1.0 - sigma_min), 1.0};
  }

  // R[i][j] for the reflection along w = (1, 2, ..., D).
  double R(int64_t i, int64_t j) const {
    double ww = 0.0;
    for (size_t d = 0; d < mu.size(); ++d) ww += double(d + 1) * (d + 1);
    return (i == j ? 1.0 : 0.0) - 2.0 * double(i + 1) * double(j + 1) / ww;
  }

  Var operator()(const Var& x, const Tensor& t) const {
    double tt = t.data()[0];  // all samples share t inside an ODE solve
    int64_t D = static_cast<int64_t>(mu.size());
    const ProbPath::Coeffs c = coeffs(tt);
    std::vector<double> k(D);
    std::vector<float> tm(D), dmu(D), M(D * D, 0.0f);
    for (int64_t d = 0; d < D; ++d) {
      double s2 = double(s[d]) * s[d];
      k[d] = (c.a * c.da + c.b * c.db * s2) / (c.a * c.a + c.b * c.b * s2);
      tm[d] = float(c.b * mu[d]);
      dmu[d] = float(c.db * mu[d]);
    }
    for (int64_t i = 0; i < D; ++i)  // M = R diag(k) R
      for (int64_t j = 0; j < D; ++j) {
        double m = 0.0;
        for (int64_t d = 0; d < D; ++d) m += R(i, d) * k[d] * R(d, j);
        M[i * D + j] = float(m);
      }
    Var centred = sub(x, Var(Tensor::from(tm, {D})));
    return add(matmul(centred, Var(Tensor::from(M, {D, D})), false, true), Var(Tensor::from(dmu, {D})));
  }

  double log_density(const float* x) const {  // N(b(1) mu, a(1)^2 + b(1)^2 s^2) at t = 1
    int64_t D = static_cast<int64_t>(mu.size());
    const ProbPath::Coeffs c = coeffs(1.0);
    double lp = 0.0;
    for (int64_t d = 0; d < D; ++d) {
      double z = 0.0;  // rotated coordinate (R (x - b mu))_d
      for (int64_t j = 0; j < D; ++j) z += R(d, j) * (x[j] - c.b * mu[j]);
      double var = c.a * c.a + c.b * c.b * double(s[d]) * s[d];
      lp += -0.5 * std::log(2.0 * M_PI * var) - 0.5 * z * z / var;
    }
    return lp;
  }
};

Tensor gaussian_data(const GaussianField& g, int64_t B, uint64_t seed) {
  int64_t D = static_cast<int64_t>(g.mu.size());
  Tensor z = Tensor::empty({B, D}), x = Tensor::empty({B, D});
  Rng(seed).normal(z);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < D; ++i) {
      double r = 0.0;  // x = mu + R diag(s) z
      for (int64_t d = 0; d < D; ++d) r += g.R(i, d) * g.s[d] * z.data()[b * D + d];
      x.data()[b * D + i] = float(g.mu[i] + r);
    }
  return x;
}

// The largest |log p - closed form| over B samples of the data, with the exact divergence at 1e-6.
struct ExactCheck {
  double worst = 0.0;
  int64_t nfe = 0;
};
ExactCheck exact_logp_error(const GaussianField& g, int64_t B, uint64_t seed) {
  const Tensor x1 = gaussian_data(g, B, seed);
  FlowSolveOptions opt;
  opt.ode.rtol = opt.ode.atol = 1e-6;
  Rng rng(1);
  const FlowSolveResult r = log_likelihood(g, x1, opt, rng);
  const int64_t D = int64_t(g.mu.size());
  ExactCheck c;
  c.nfe = r.stats.nfe;
  for (int64_t b = 0; b < B; ++b) c.worst = std::max(c.worst, std::fabs(r.logp[b] - g.log_density(x1.data() + D * b)));
  return c;
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("exact-divergence likelihood reproduces the Gaussian log-density") {
  GaussianField g{{0.5f, -1.0f, 2.0f}, {0.7f, 1.5f, 0.3f}};
  const ExactCheck c = exact_logp_error(g, 64, 7);
  INFO("max |logp error| = " << c.worst << ", nfe = " << c.nfe);
  CHECK(c.worst < 2e-4);
  CHECK(c.nfe > 0);
}

TEST_CASE("exact-divergence likelihood reproduces the Gaussian log-density along every affine path") {
  for (const char* name : {"cosine", "poly:2", "poly:3", "linear-vp"}) {
    std::unique_ptr<ProbPath> path = make_path(name);
    GaussianField g{{0.5f, -1.0f, 2.0f}, {0.7f, 1.5f, 0.3f}};
    g.path = path.get();
    const ExactCheck c = exact_logp_error(g, 32, 11);
    INFO(name << ": max |logp error| = " << c.worst << ", nfe = " << c.nfe);
    CHECK(c.worst < 2e-4);
  }
}

TEST_CASE("likelihood tracked along a sampling solve matches the closed form") {
  GaussianField g{{1.0f, 0.0f}, {0.5f, 2.0f}};
  Tensor x0 = Tensor::empty({32, 2});
  Rng(3).normal(x0);
  FlowSolveOptions opt;
  opt.ode.rtol = opt.ode.atol = 1e-6;
  Rng rng(2);
  FlowSolveResult r = sample_flow(g, x0, opt, rng, /*track_logp=*/true);
  for (int64_t b = 0; b < 32; ++b) CHECK(r.logp[b] == doctest::Approx(g.log_density(r.x.data() + 2 * b)).epsilon(1e-4));
}

TEST_CASE("Hutchinson estimate agrees with the exact log-density within its standard error") {
  GaussianField g{{0.0f, 1.0f, -0.5f, 0.25f}, {1.2f, 0.4f, 0.8f, 1.0f}};
  Tensor x1 = gaussian_data(g, 400, 11);
  for (Probe probe : {Probe::Rademacher, Probe::Gaussian}) {
    FlowSolveOptions opt;
    opt.divergence = Divergence::Hutchinson;
    opt.probe = probe;
    opt.ode.rtol = opt.ode.atol = 1e-5;
    Rng rng(5);
    FlowSolveResult r = log_likelihood(g, x1, opt, rng);
    std::vector<double> err(400);
    for (int64_t b = 0; b < 400; ++b) err[b] = r.logp[b] - g.log_density(x1.data() + 4 * b);
    MeanStderr m = mean_stderr(err);
    INFO("mean error " << m.mean << " +- " << m.stderr_);
    CHECK(std::fabs(m.mean) < 4.0 * m.stderr_ + 1e-3);
    CHECK(m.stderr_ > 0.0);  // a single probe is noisy: the estimate must not be exact by accident
  }
}

TEST_CASE("the source density of a wider prior is used") {
  std::vector<double> lp = gaussian_log_density(Tensor::from({0.0f, 0.0f}, {1, 2}), 2.0);
  CHECK(lp[0] == doctest::Approx(-std::log(2.0 * M_PI * 4.0)));
}

}  // TEST_SUITE
