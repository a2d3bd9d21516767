// tests/test_bpd.cpp: the bits-per-dimension pipeline against a closed form in D = 784.
//
// An analytic "model": the CondOT marginal field of data N(0, s^2 I) (see test_likelihood.cpp),
// whose density at t = 1 is N(0, (sigma_min^2 + s^2) I). Dequantised pixels go through the
// likelihood ODE with Hutchinson probes, and the bpd must match the closed form
//   bpd = -log N(y; 0, v I) / (D ln 2) + 7.
#include <doctest/doctest.h>

#include <cmath>

#include "autodiff/ops.h"
#include "ode/bpd.h"
#include "ode/likelihood.h"

using namespace fm;

TEST_SUITE("cpu") {

TEST_CASE("dequantisation maps pixels into [-1, 1) cells of width 2/256") {
  Tensor px = Tensor::from({0.0f, 255.0f, 100.0f}, {3});
  Rng rng(1);
  Tensor y = dequantize(px, rng);
  CHECK(y.data()[0] >= -1.0f);
  CHECK(y.data()[0] < -1.0f + 2.0f / 256.0f);
  CHECK(y.data()[1] >= 1.0f - 2.0f / 256.0f);
  CHECK(y.data()[1] < 1.0f);
  CHECK(bits_per_dim(-784.0 * std::log(2.0), 784) == doctest::Approx(8.0));
  // log mean exp of {log 1, log 3} = log 2
  std::vector<double> iw = importance_weighted_logp({{0.0}, {std::log(3.0)}});
  CHECK(iw[0] == doctest::Approx(std::log(2.0)));
}

TEST_CASE("the bpd of an analytic Gaussian model matches the closed form in D = 784") {
  const int64_t B = 16, D = 784;
  const double s = 0.5, sigma_min = 1e-4, var = sigma_min * sigma_min + s * s;
  FieldFn v = [&](const Var& x, const Tensor& t) {
    double tt = t.data()[0], a = 1.0 - (1.0 - sigma_min) * tt, da = -(1.0 - sigma_min);
    float k = float((a * da + tt * s * s) / (a * a + tt * tt * s * s));
    return scale(x, k);  // u_t(x) = k(t) x for zero-mean data
  };
  Tensor pixels = Tensor::empty({B, 1, 28, 28});
  Rng rng(2);
  rng.uniform(pixels, 0.0f, 256.0f);
  for (int64_t i = 0; i < pixels.numel(); ++i) pixels.data()[i] = std::floor(pixels.data()[i]);
  Tensor y = dequantize(pixels, rng);
  FlowSolveOptions opt;
  opt.divergence = Divergence::Hutchinson;
  FlowSolveResult r = log_likelihood(v, y, opt, rng);
  for (int64_t b = 0; b < B; ++b) {
    double sq = 0.0;
    for (int64_t j = 0; j < D; ++j) sq += double(y.data()[b * D + j]) * y.data()[b * D + j];
    double logp = -0.5 * D * std::log(2.0 * M_PI * var) - 0.5 * sq / var;
    // The field is isotropic, so even one Rademacher probe gives the exact trace.
    CHECK(bits_per_dim(r.logp[b], D) == doctest::Approx(bits_per_dim(logp, D)).epsilon(1e-4));
  }
}

}  // TEST_SUITE
