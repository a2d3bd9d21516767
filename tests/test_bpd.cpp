// tests/test_bpd.cpp: the bits-per-dimension pipeline against a closed form in D = 784.
//
// An analytic "model": the CondOT marginal field of data N(0, s^2 I) (see test_likelihood.cpp),
// whose density at t = 1 is N(0, (sigma_min^2 + s^2) I). Dequantised pixels go through the
// likelihood ODE with Hutchinson probes, and the bpd must match the closed form
//   bpd = -log N(y; 0, v I) / (D ln 2) + 7.
// image_bpd (the whole pixels -> bpd pipeline) is checked against a replay of its random streams.
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

TEST_CASE("image_bpd: chunks and importance-weighted draws match a replay of the same random stream") {
  // The analytic field again, on 10 images in chunks of 4 with K = 3 dequantisations. Replaying
  // the documented order (chunk c from its own stream derive_seed(seed, c), per draw: dequantise,
  // then the solve's probes) with the closed-form log p(y) must give the same bpd, to the ODE's
  // tolerance.
  const int64_t B = 10, D = 3 * 4 * 4, batch = 4;
  const int K = 3;
  const double s = 0.5, sigma_min = 1e-4, var = sigma_min * sigma_min + s * s;
  FieldFn v = [&](const Var& x, const Tensor& t) {
    double tt = t.data()[0], a = 1.0 - (1.0 - sigma_min) * tt, da = -(1.0 - sigma_min);
    return scale(x, float((a * da + tt * s * s) / (a * a + tt * tt * s * s)));
  };
  Tensor pixels = Tensor::empty({B, 3, 4, 4});
  Rng prng(3);
  prng.uniform(pixels, 0.0f, 256.0f);
  for (int64_t i = 0; i < pixels.numel(); ++i) pixels.data()[i] = std::floor(pixels.data()[i]);
  FlowSolveOptions opt;
  opt.divergence = Divergence::Hutchinson;

  const uint64_t seed = 4;
  int64_t last_done = 0, calls = 0;
  BpdResult res = image_bpd(v, pixels, opt, K, batch, seed, [&](int64_t done, const BpdResult& so_far, int64_t nfe) {
    CHECK(done > last_done);
    CHECK(nfe > 0);
    CHECK(so_far.bpd.size() <= size_t(done / K));
    last_done = done;
    ++calls;
  });
  CHECK(last_done == B * K);
  CHECK(calls == 3 * K);  // chunks of 4, 4, 2
  CHECK(res.solves == 3 * K);
  CHECK(res.mean_nfe > 0.0);
  REQUIRE(res.bpd.size() == size_t(B));

  for (int64_t lo = 0, c = 0; lo < B; lo += batch, ++c) {
    Rng replay(derive_seed(seed, uint64_t(c)));
    Tensor chunk = pixels.rows(lo, std::min(B, lo + batch));
    std::vector<std::vector<double>> draws;
    for (int k = 0; k < K; ++k) {
      Tensor y = dequantize(chunk, replay);
      log_likelihood(v, y, opt, replay);  // consumes the probes, as image_bpd's solve did
      std::vector<double> lp;
      for (int64_t b = 0; b < y.dim(0); ++b) {
        double sq = 0.0;
        for (int64_t j = 0; j < D; ++j) sq += double(y.data()[b * D + j]) * y.data()[b * D + j];
        lp.push_back(-0.5 * D * std::log(2.0 * M_PI * var) - 0.5 * sq / var);
      }
      draws.push_back(lp);
    }
    std::vector<double> iw = importance_weighted_logp(draws);
    for (size_t b = 0; b < iw.size(); ++b) CHECK(res.bpd[lo + b] == doctest::Approx(bits_per_dim(iw[b], D)).epsilon(1e-4));
  }
}

TEST_CASE("image_bpd rejects empty input, K < 1 and batch < 1, and gets a field of constant divergence right") {
  FieldFn v = [](const Var& x, const Tensor&) { return x; };
  const uint64_t seed = 5;
  Tensor px = Tensor::zeros({2, 1, 2, 2});
  CHECK_THROWS(image_bpd(v, Tensor::zeros({0, 1, 2, 2}), {}, 1, 4, seed));
  CHECK_THROWS(image_bpd(v, px, {}, 0, 4, seed));
  CHECK_THROWS(image_bpd(v, px, {}, 1, 0, seed));
  // v = x has div = D everywhere, so log p1(y) = log N(y / e; 0, I) - D. Pixels 128 give y in
  // [0, 1/128), so y / e ~ 0 and bpd ~ (log(2 pi) / 2 + 1) / ln 2 + 7 (off by < 1e-5).
  px.fill(128.0f);
  BpdResult r = image_bpd(v, px, {}, 1, 4, seed);
  REQUIRE(r.bpd.size() == 2);
  for (double b : r.bpd) CHECK(b == doctest::Approx((0.5 * std::log(2.0 * M_PI) + 1.0) / std::log(2.0) + 7.0).epsilon(1e-5));
}

}  // TEST_SUITE
