// tests/test_schedule_transform.cpp: a model sampled along another path than it was trained on
// (flow/schedule_transform.h), against closed forms.
//
// For Gaussian data and any path x_t = a x0 + b x1 (x0 ~ N(0, I)), the marginal field is known
// exactly (tests/gaussian_field.h). So the schedule-transformed exact field of one path must be
// the exact field of the other, and solving either from the same noise must end at the same point.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>

#include "autodiff/ops.h"
#include "flow/path.h"
#include "flow/schedule_transform.h"
#include "nn/mlp.h"
#include "ode/evaluate.h"
#include "tests/gaussian_field.h"

using namespace fm;

namespace {

// The exact marginal field of a Gaussian along `path` (tests/gaussian_field.h), as a model.
class GaussianModel : public FieldModel {
 public:
  GaussianModel(const ProbPath& path, std::vector<float> mu, std::vector<float> s) : g_{mu, s} { g_.path = &path; }
  Var forward(const Var& x, const Tensor& t, Rng* = nullptr) const override { return g_(x, t); }
  Json config() const override { return Json(); }
  void collect(const std::string&, std::vector<Param>&) const override {}

 private:
  fm::testing::GaussianField g_;
};

const std::vector<float> kMu{0.5f, -1.0f}, kS{0.7f, 1.5f};

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("the transformed exact field of one path is the exact field of the other") {
  const char* pairs[][2] = {{"poly:1", "cosine"}, {"cosine", "poly:2"}, {"poly:2", "linear-vp"},
                            {"linear-vp", "poly:1"}, {"poly:3", "cosine"}, {"cosine", "cosine"}};
  for (auto& pair : pairs) {
    std::unique_ptr<ProbPath> from = make_path(pair[0]), to = make_path(pair[1]);
    GaussianModel trained(*from, kMu, kS), exact(*to, kMu, kS);
    ScheduleTransformedField moved(trained, *from, *to);
    for (double t : {0.02, 0.2, 0.5, 0.8, 0.97}) {
      Tensor x = Tensor::from({0.3f, -2.0f, 1.7f, 0.4f}, {2, 2}), ts = Tensor::full({2}, float(t));
      const std::vector<float> got = moved.forward(Var(x), ts).value().to_vector();
      const std::vector<float> want = exact.forward(Var(x), ts).value().to_vector();
      INFO(pair[0] << " -> " << pair[1] << " at t = " << t);
      for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(2e-4));
    }
    // The same path maps every time to itself with scale 1.
    if (std::string(pair[0]) == pair[1]) {
      const ScheduleTransformedField::TimeMap m = moved.map(0.3);
      CHECK(m.r == doctest::Approx(0.3));
      CHECK(m.dr == doctest::Approx(1.0));
      CHECK(m.s == doctest::Approx(1.0));
      CHECK(m.ds == doctest::Approx(0.0));
    }
  }
}

TEST_CASE("a solve along the new path ends where the trained model's own solve ends") {
  // Holds for any field, not only an exact one: a small MLP-like field would do; the exact field
  // of a condot model with sigma_min (whose end the new path passes beyond) is the harder case.
  std::unique_ptr<ProbPath> from = make_path("condot", 1e-4), to = make_path("cosine");
  GaussianModel trained(*from, kMu, kS);
  ScheduleTransformedField moved(trained, *from, *to);
  Tensor x0 = Tensor::empty({64, 2});
  Rng(5).normal(x0);
  FlowSolveOptions opt;
  opt.ode.rtol = opt.ode.atol = 1e-7;
  Rng rng(1);
  const FlowSolveResult a = sample_flow(field_of(trained), x0, opt, rng, true);
  const FlowSolveResult b = sample_flow(field_of(moved), x0, opt, rng, true);
  const std::vector<float> xa = a.x.to_vector(), xb = b.x.to_vector();
  double worst = 0, worst_logp = 0;
  for (size_t i = 0; i < xa.size(); ++i) worst = std::max(worst, double(std::fabs(xa[i] - xb[i])));
  for (size_t i = 0; i < a.logp.size(); ++i) worst_logp = std::max(worst_logp, std::fabs(a.logp[i] - b.logp[i]));
  INFO("max |x difference| = " << worst << ", max |log p difference| = " << worst_logp << ", nfe " << a.stats.nfe
                               << " vs " << b.stats.nfe);
  CHECK(worst < 1e-3);
  CHECK(worst_logp < 1e-3);
}

TEST_CASE("a poly:N model (N > 1) under another path: finite at t = 0; diffusion paths are refused") {
  std::unique_ptr<ProbPath> from = make_path("poly:2"), to = make_path("cosine");
  GaussianModel trained(*from, kMu, kS);
  ScheduleTransformedField moved(trained, *from, *to);
  const ScheduleTransformedField::TimeMap m = moved.map(0.0);
  CHECK(std::isfinite(m.dr));
  CHECK(m.r > 0);
  const std::vector<float> v = moved.forward(Var(Tensor::from({0.1f, 0.2f}, {1, 2})), Tensor::zeros({1})).value().to_vector();
  CHECK(std::isfinite(v[0]));
  CHECK(std::isfinite(v[1]));
  for (const char* diffusion : {"vp", "ve"}) {
    std::unique_ptr<ProbPath> p = make_path(diffusion);
    CHECK_THROWS_WITH_AS(ScheduleTransformedField(trained, *from, *p), doctest::Contains("standard normal"), std::runtime_error);
    CHECK_THROWS_WITH_AS(ScheduleTransformedField(trained, *p, *to), doctest::Contains(diffusion), std::runtime_error);
  }
}

}  // TEST_SUITE

TEST_CASE("a class-conditional model, guided, under another path ends where its own guided solve ends") {
  // The change is affine in v with weights summing to 1, so it commutes with guidance: moving
  // each class's field (forward_class) moves the guided field too.
  std::unique_ptr<ProbPath> from = make_path("condot", 1e-4), to = make_path("cosine");
  Rng init(3);
  MlpField trained(2, 32, 3, init, 3);
  ScheduleTransformedField moved(trained, *from, *to);
  CHECK(moved.num_classes() == 3);
  const int64_t n = 30;
  Tensor x0 = Tensor::empty({n, 2});
  Rng(5).normal(x0);
  ClassCondition cond;
  for (int64_t i = 0; i < n; ++i) cond.labels.push_back(i % 3);
  cond.guidance = 2.0;
  FlowSolveOptions opt;
  opt.ode.rtol = opt.ode.atol = 1e-7;
  Rng rng(1);
  const std::vector<float> own = sample_flow(field_of_rows(trained, cond, 0, n), x0, opt, rng, false).x.to_vector();
  const std::vector<float> along = sample_flow(field_of_rows(moved, cond, 0, n), x0, opt, rng, false).x.to_vector();
  const std::vector<float> plain = sample_flow(field_of(trained), x0, opt, rng, false).x.to_vector();
  double worst = 0, apart = 0;
  for (size_t i = 0; i < own.size(); ++i) {
    worst = std::max(worst, double(std::fabs(own[i] - along[i])));
    apart = std::max(apart, double(std::fabs(own[i] - plain[i])));
  }
  INFO("max |difference| along cosine: " << worst << "; guided vs unconditional: " << apart);
  CHECK(worst < 1e-3);
  CHECK(apart > 1e-2);  // the classes and the guidance do change the samples
}
