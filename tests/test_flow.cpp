// tests/test_flow.cpp: probability paths against their definitions, the CFM loss, datasets.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "flow/dataset.h"
#include "flow/loss.h"
#include "flow/path.h"
#include "nn/mlp.h"

using namespace fm;

TEST_SUITE("cpu") {

TEST_CASE("each path's target is the time derivative of its flow (finite differences)") {
  for (const char* name : {"condot", "vp", "ve", "cosine", "poly:1", "poly:2", "poly:3.5", "linear-vp"}) {
    std::unique_ptr<ProbPath> path = make_path(name, 1e-4);
    for (double t : {0.05, 0.3, 0.5, 0.8, 0.95}) {
      double h = 1e-5;
      ProbPath::Coeffs c = path->coeffs(t), up = path->coeffs(t + h), dn = path->coeffs(t - h);
      INFO(name << " at t = " << t);
      CHECK(c.da == doctest::Approx((up.a - dn.a) / (2 * h)).epsilon(1e-5));
      CHECK(c.db == doctest::Approx((up.b - dn.b) / (2 * h)).epsilon(1e-5));
    }
  }
}

TEST_CASE("the affine schedulers: their definitions, noise at t = 0, data at t = 1, names that rebuild them") {
  const double pi = 3.14159265358979323846;
  for (double t : {0.1, 0.5, 0.9}) {  // against the formulas written out here, not the code's
    ProbPath::Coeffs c = make_path("cosine")->coeffs(t);
    CHECK(c.a == doctest::Approx(std::cos(pi * t / 2)));
    CHECK(c.b == doctest::Approx(std::sin(pi * t / 2)));
    c = make_path("poly:3")->coeffs(t);
    CHECK(c.a == doctest::Approx(1 - t * t * t));
    CHECK(c.b == doctest::Approx(t * t * t));
    c = make_path("linear-vp")->coeffs(t);
    CHECK(c.a * c.a + c.b * c.b == doctest::Approx(1.0));
    CHECK(c.b == doctest::Approx(t));
  }
  // poly:1 is CondOT with sigma_min = 0.
  for (double t : {0.2, 0.7}) {
    ProbPath::Coeffs p = make_path("poly:1")->coeffs(t), o = CondOTPath(0.0).coeffs(t);
    CHECK(p.a == doctest::Approx(o.a));
    CHECK(p.da == doctest::Approx(o.da));
    CHECK(p.db == doctest::Approx(o.db));
  }
  for (const char* name : {"cosine", "poly:2", "poly:1.5", "linear-vp"}) {
    std::unique_ptr<ProbPath> path = make_path(name);
    INFO(name);
    CHECK(path->coeffs(0.0).a == doctest::Approx(1.0));
    CHECK(path->coeffs(0.0).b == doctest::Approx(0.0));
    CHECK(path->coeffs(1.0).a == doctest::Approx(0.0).epsilon(1e-5));
    CHECK(path->coeffs(1.0).b == doctest::Approx(1.0));
    CHECK(make_path(path->name())->name() == path->name());
    CHECK(make_path(path->name())->coeffs(0.37).a == path->coeffs(0.37).a);
  }
  CHECK(make_path("linear-vp")->t_max() < 1.0);
  for (const char* bad : {"poly:", "poly:0.5", "poly:-2", "poly:x", "poly:2x", "poly:inf", "cos"})
    CHECK_THROWS_AS(make_path(bad), std::runtime_error);
  CHECK_THROWS_WITH_AS(make_path("poly:0.5"), doctest::Contains("N >= 1"), std::runtime_error);
  CHECK_THROWS_WITH_AS(make_path("cos"), doctest::Contains("linear-vp"), std::runtime_error);
}

TEST_CASE("CondOT runs from noise to data with sigma_min at the end") {
  CondOTPath p(1e-2);
  ProbPath::Coeffs c0 = p.coeffs(0.0), c1 = p.coeffs(1.0);
  CHECK(c0.a == 1.0);
  CHECK(c0.b == 0.0);
  CHECK(c1.a == doctest::Approx(1e-2));
  CHECK(c1.b == 1.0);
  // The target x1 - (1 - sigma_min) x0 does not depend on t.
  Tensor x0 = Tensor::from({1.0f, 2.0f}, {1, 2}), x1 = Tensor::from({-1.0f, 0.5f}, {1, 2});
  Tensor xt, ut;
  p.interpolate(x0, x1, Tensor::from({0.25f}, {1}), xt, ut);
  CHECK(xt.data()[0] == doctest::Approx((1 - 0.99 * 0.25) * 1.0 + 0.25 * -1.0));
  CHECK(ut.data()[1] == doctest::Approx(0.5 - 0.99 * 2.0));
}

TEST_CASE("the VP path preserves variance and starts near pure noise") {
  VPPath p;
  for (double t : {0.0, 0.2, 0.7, 0.99}) {
    ProbPath::Coeffs c = p.coeffs(t);
    CHECK(c.a * c.a + c.b * c.b == doctest::Approx(1.0));
  }
  CHECK(p.coeffs(0.0).b == doctest::Approx(std::exp(-0.5 * (0.1 + 0.5 * 19.9))));  // alpha(1) = e^{-5.025}
  CHECK(p.coeffs(1.0).b == doctest::Approx(1.0));
  CHECK(p.t_max() < 1.0);
  VEPath ve(0.01, 10.0);
  CHECK(ve.coeffs(0.0).a == doctest::Approx(10.0));
  CHECK(ve.coeffs(1.0).a == doctest::Approx(0.01));
  CHECK(ve.prior_std() == 10.0);
  CHECK_THROWS_WITH_AS(make_path("ot"), doctest::Contains("condot"), std::runtime_error);
}

TEST_CASE("the CFM loss of a field equals the mean squared error against the path's target") {
  Rng rng(1);
  MlpField model(2, 8, 2, rng);
  CondOTPath path;
  Tensor x1 = Tensor::empty({16, 2});
  rng.normal(x1);
  FlowBatch fb;
  make_flow_batch(path, x1, rng, fb);
  double loss = cfm_loss(model, fb).value().item();
  NoGradGuard ng;
  Tensor v = model.forward(Var(fb.xt), fb.t).value();
  double ref = 0;
  for (int64_t i = 0; i < 32; ++i) ref += std::pow(double(v.data()[i]) - fb.ut.data()[i], 2) / 32.0;
  CHECK(loss == doctest::Approx(ref).epsilon(1e-5));
  for (int64_t i = 0; i < 16; ++i) {  // t ~ U[0, 1] and x_t built from this batch's x0
    CHECK(fb.t.data()[i] >= 0.0f);
    CHECK(fb.t.data()[i] <= 1.0f);
  }
}

TEST_CASE("training times: uniform by default, logit-normal with its mean and spread, capped at t_max") {
  CHECK(TimeDist::parse("uniform").name() == "uniform");
  CHECK(TimeDist::parse("logit-normal").name() == "logit-normal:0,1");
  CHECK(TimeDist::parse("logit-normal:1.2,1.2").name() == "logit-normal:1.2,1.2");
  CHECK(TimeDist::parse(TimeDist::parse("logit-normal:-0.3,0.7").name()).m == -0.3);
  for (const char* bad : {"", "normal", "logit-normal:", "logit-normal:1", "logit-normal:1,0", "logit-normal:1,-1",
                          "logit-normal:x,1", "logit-normal:1,1x", "logit-normal:nan,1", "logit-normal:1,inf"})
    CHECK_THROWS_WITH_AS(TimeDist::parse(bad), doctest::Contains("logit-normal:M,S"), std::invalid_argument);

  const int64_t B = 20000;
  Tensor x1 = Tensor::zeros({B, 2});
  CondOTPath path;
  FlowBatch fb;
  Rng rng(3);
  // The logits of the drawn times are N(m, s^2): their sample mean and deviation, within 5
  // standard errors (s / sqrt(B) for the mean, s / sqrt(2B) for the deviation).
  const TimeDist d = TimeDist::parse("logit-normal:1.2,0.8");
  make_flow_batch(path, x1, rng, fb, d);
  double sum = 0, sum2 = 0;
  for (int64_t i = 0; i < B; ++i) {
    const double t = fb.t_host.data()[i], logit = std::log(t / (1 - t));
    sum += logit, sum2 += logit * logit;
  }
  const double mean = sum / B, sd = std::sqrt(sum2 / B - mean * mean);
  CHECK(std::fabs(mean - 1.2) < 5 * 0.8 / std::sqrt(double(B)));
  CHECK(std::fabs(sd - 0.8) < 5 * 0.8 / std::sqrt(2.0 * B));
  // x_t and u_t follow the drawn times (x1 = 0: x_t = a(t) x0).
  CHECK(fb.xt.data()[0] == doctest::Approx(path.coeffs(fb.t_host.data()[0]).a * fb.x0.data()[0]));
  // Uniform: the mean time is 1/2.
  make_flow_batch(path, x1, rng, fb);
  double tsum = 0;
  for (int64_t i = 0; i < B; ++i) tsum += fb.t_host.data()[i];
  CHECK(std::fabs(tsum / B - 0.5) < 5 * std::sqrt(1.0 / 12 / B));
  // A large m pushes times towards 1; the vp path caps them at its t_max.
  VPPath vp;
  make_flow_batch(vp, x1, rng, fb, TimeDist::parse("logit-normal:30,1"));
  float latest = 0;
  for (int64_t i = 0; i < B; ++i) latest = std::max(latest, fb.t_host.data()[i]);
  CHECK(latest == float(vp.t_max()));  // sigmoid(30 + z) rounds to 1 in float: every time is capped
}

TEST_CASE("datasets: toys, user files and bad names") {
  Rng rng(2);
  CHECK(open_dataset("moons")->batch(10, rng).shape() == Shape{10, 2});
  auto dir = std::filesystem::temp_directory_path() / ("fm_test_flow_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string csv = (dir / "pts.csv").string();
  std::ofstream(csv) << "a,b,c\n1,2,3\n4,5,6\n";
  std::unique_ptr<Dataset> d = open_dataset(csv);
  CHECK(d->sample_shape() == Shape{3});
  CHECK(d->size() == 2);
  Tensor h = d->head(5);
  CHECK(h.shape() == Shape{2, 3});
  CHECK(h.data()[3] == 4.0f);
  Tensor b = d->batch(50, rng);  // drawn with replacement: every row is one of the two
  for (int64_t i = 0; i < 50; ++i) CHECK((b.data()[3 * i] == 1.0f || b.data()[3 * i] == 4.0f));
  CHECK_THROWS_WITH_AS(open_dataset("chekerboard"), doctest::Contains("checkerboard"), std::runtime_error);
  CHECK_THROWS_AS(open_dataset((dir / "missing.npy").string()), std::runtime_error);
  std::filesystem::remove_all(dir);
}

}  // TEST_SUITE
