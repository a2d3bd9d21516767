// tests/test_coupling.cpp: minibatch OT coupling (flow/coupling.h): the noise order is an optimal
// permutation (brute force), stays within each group, and a training batch drawn with it pairs
// noise and data more closely than independent coupling.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "flow/coupling.h"
#include "flow/dataset.h"
#include "flow/path.h"
#include "flow/trainer.h"
#include "nn/mlp.h"
#include "tests/test_util.h"

using namespace fm;
using namespace fm::testing;

namespace {
// sum_i ||x0[order[i]] - x1[i]||^2
double pairing_cost(const Tensor& x0, const Tensor& x1, const std::vector<int64_t>& order) {
  const int64_t n = x0.dim(0), d = x0.numel() / n;
  const std::vector<float> a = x0.to_vector(), b = x1.to_vector();
  double c = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < d; ++k) {
      const double diff = a[size_t(order[size_t(i)] * d + k)] - b[size_t(i * d + k)];
      c += diff * diff;
    }
  return c;
}

// The cheapest pairing that keeps every row within its group, by trying every permutation.
double brute_force_cost(const Tensor& x0, const Tensor& x1, const std::vector<int64_t>& groups) {
  const int64_t n = x0.dim(0);
  std::vector<int64_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  double best = INFINITY;
  do {
    bool ok = true;
    for (int64_t i = 0; i < n && ok; ++i) ok = groups.empty() || groups[size_t(p[size_t(i)])] == groups[size_t(i)];
    if (ok) best = std::min(best, pairing_cost(x0, x1, p));
  } while (std::next_permutation(p.begin(), p.end()));
  return best;
}
}  // namespace

TEST_CASE("the OT noise order is an optimal permutation, within each group when given") {
  AssignmentWorkspace ws;
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    const int64_t n = 2 + int64_t(seed % 6), d = 1 + int64_t(seed % 3);
    const Tensor x0 = randu({n, d}, seed), x1 = randu({n, d}, seed + 100, -2.0f, 2.0f);
    std::vector<int64_t> groups;
    for (int64_t i = 0; i < n; ++i) groups.push_back((i * 7 + int64_t(seed)) % 3);
    for (const std::vector<int64_t>& g : {std::vector<int64_t>{}, groups}) {
      const std::vector<int64_t> order = ot_noise_order(x0, x1, g, ws);
      std::vector<int64_t> sorted = order;
      std::sort(sorted.begin(), sorted.end());
      std::vector<int64_t> all(static_cast<size_t>(n));
      std::iota(all.begin(), all.end(), 0);
      CHECK(sorted == all);  // a permutation: no noise row used twice or dropped
      for (int64_t i = 0; i < n && !g.empty(); ++i) CHECK(g[size_t(order[size_t(i)])] == g[size_t(i)]);
      CAPTURE(seed);
      CHECK(pairing_cost(x0, x1, order) == doctest::Approx(brute_force_cost(x0, x1, g)).epsilon(1e-5));
    }
  }
  // Image-shaped rows are flattened: [n, C, H, W] pairs like [n, C H W].
  const Tensor a = randu({5, 1, 2, 3}, 7), b = randu({5, 1, 2, 3}, 8);
  CHECK(ot_noise_order(a, b, {}, ws) == ot_noise_order(a.reshape({5, 6}), b.reshape({5, 6}), {}, ws));
  CHECK_THROWS(ot_noise_order(a, randu({4, 1, 2, 3}, 9), {}, ws));
  CHECK(parse_coupling("ot") == Coupling::Ot);
  CHECK(parse_coupling("independent") == Coupling::Independent);
  CHECK_THROWS_AS(parse_coupling("sinkhorn"), std::invalid_argument);
}

TEST_CASE("a training step with OT coupling pairs its noise with the data more closely than independent coupling") {
  // On the condot path the target is u = x1 - (1 - sigma_min) x0, so the mean |u|^2 of the batch
  // a step trained on is the mean squared distance of its pairs: E|x0|^2 + E|x1|^2 = 2 + 8/3 for
  // independent pairs of N(0, I) and U[-2, 2]^2 noise and data, much less for OT pairs.
  std::unique_ptr<Dataset> data = tensor_dataset("square", randu({20000, 2}, 3, -2.0f, 2.0f));
  double mean_u2[2] = {0, 0};
  for (int ot = 0; ot < 2; ++ot) {
    Rng init(4);
    MlpField model(2, 16, 2, init);
    CondOTPath path;
    TrainOptions opt;
    opt.batch = 512;
    opt.coupling = ot ? Coupling::Ot : Coupling::Independent;
    Trainer trainer(model, path, *data, opt);
    CHECK(std::isfinite(trainer.step().loss));
    const std::vector<float> u = trainer.last_batch().ut.to_vector();
    for (float v : u) mean_u2[ot] += double(v) * v / double(opt.batch);
  }
  INFO("mean |u|^2: independent " << mean_u2[0] << ", OT " << mean_u2[1]);
  CHECK(mean_u2[0] == doctest::Approx(2.0 + 8.0 / 3.0).epsilon(0.1));
  CHECK(mean_u2[1] < 0.5 * mean_u2[0]);
}
