// tests/test_likelihood.cpp: the likelihood ODE against closed form (the Gaussian data and its
// exact field along a path: tests/gaussian_field.h).
#include <doctest/doctest.h>

#include <cmath>

#include "ode/likelihood.h"
#include "tests/gaussian_field.h"

using namespace fm;
using fm::testing::GaussianField;
using fm::testing::gaussian_data;

namespace {

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
