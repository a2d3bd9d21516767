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
#include "tensor/ops.h"
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

// The order is a permutation (no noise row used twice or dropped) that keeps each row in its group.
void check_order(const std::vector<int64_t>& order, const std::vector<int64_t>& groups) {
  const int64_t n = int64_t(order.size());
  std::vector<int64_t> sorted = order, all(static_cast<size_t>(n));
  std::sort(sorted.begin(), sorted.end());
  std::iota(all.begin(), all.end(), 0);
  REQUIRE(sorted == all);
  for (int64_t i = 0; i < n && !groups.empty(); ++i) CHECK(groups[size_t(order[size_t(i)])] == groups[size_t(i)]);
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
  CouplingWorkspace ws;
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    const int64_t n = 2 + int64_t(seed % 6), d = 1 + int64_t(seed % 3);
    const Tensor x0 = randu({n, d}, seed), x1 = randu({n, d}, seed + 100, -2.0f, 2.0f);
    std::vector<int64_t> groups;
    for (int64_t i = 0; i < n; ++i) groups.push_back((i * 7 + int64_t(seed)) % 3);
    for (const std::vector<int64_t>& g : {std::vector<int64_t>{}, groups}) {
      const std::vector<int64_t> order = ot_noise_order(x0, x1, g, 0, ws);
      check_order(order, g);
      CAPTURE(seed);
      CHECK(pairing_cost(x0, x1, order) == doctest::Approx(brute_force_cost(x0, x1, g)).epsilon(1e-5));
    }
  }
  // Image-shaped rows are flattened: [n, C, H, W] pairs like [n, C H W].
  const Tensor a = randu({5, 1, 2, 3}, 7), b = randu({5, 1, 2, 3}, 8);
  CHECK(ot_noise_order(a, b, {}, 0, ws) == ot_noise_order(a.reshape({5, 6}), b.reshape({5, 6}), {}, 0, ws));
  CHECK_THROWS(ot_noise_order(a, randu({4, 1, 2, 3}, 9), {}, 0, ws));
  CHECK_THROWS(ot_noise_order(a, b, {}, -1, ws));
  CHECK(parse_coupling("ot") == Coupling::Ot);
  CHECK(parse_coupling("independent") == Coupling::Independent);
  CHECK_THROWS_AS(parse_coupling("sinkhorn"), std::invalid_argument);
}

TEST_CASE("--ot-block: each group is cut in row order into blocks, each solved exactly") {
  CouplingWorkspace ws;
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    const int64_t n = 11, block = 3;
    const Tensor x0 = randu({n, 2}, seed), x1 = randu({n, 2}, seed + 50, -2.0f, 2.0f);
    std::vector<int64_t> groups;  // group 0: rows 0, 2, 4, ..., 10 (blocks {0,2,4} {6,8,10}); 1: odd rows
    for (int64_t i = 0; i < n; ++i) groups.push_back(i % 2);
    const std::vector<int64_t> order = ot_noise_order(x0, x1, groups, block, ws);
    // Block of row i: its rank within its group, divided by the block size.
    const auto block_of = [&](int64_t i) { return std::pair<int64_t, int64_t>{i % 2, (i / 2) / block}; };
    double cost = 0, best = 0;
    for (int64_t i = 0; i < n; ++i) CHECK(block_of(order[size_t(i)]) == block_of(i));
    for (int64_t g = 0; g < 2; ++g)
      for (int64_t k = 0; k * block * 2 + g < n; ++k) {
        std::vector<int64_t> rows;
        for (int64_t i = g; i < n; i += 2)
          if ((i / 2) / block == k) rows.push_back(i);
        const int64_t m = int64_t(rows.size());
        std::vector<int64_t> local(static_cast<size_t>(m));
        for (int64_t r = 0; r < m; ++r)
          local[size_t(r)] = std::find(rows.begin(), rows.end(), order[size_t(rows[size_t(r)])]) - rows.begin();
        const Tensor a = take_rows(x0, rows), b = take_rows(x1, rows);
        cost += pairing_cost(a, b, local);
        best += brute_force_cost(a, b, {});
      }
    CAPTURE(seed);
    CHECK(cost == doctest::Approx(best).epsilon(1e-5));
    // Block 0 and a block at least the group's size are the same: one exact solve per group.
    CHECK(ot_noise_order(x0, x1, groups, 0, ws) == ot_noise_order(x0, x1, groups, 6, ws));
  }
}

TEST_CASE("a block over kExactRows rows goes to the auction: a permutation within 1 + kAuctionEps of the exact optimum") {
  CouplingWorkspace ws;
  const int64_t n = 2 * kExactRows + 100;
  const Tensor x0 = randu({n, 2}, 3), x1 = randu({n, 2}, 4, -2.0f, 2.0f);
  std::vector<int64_t> groups(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) groups[size_t(i)] = i % 2;  // two groups above kExactRows: two auctions
  for (const std::vector<int64_t>& g : {std::vector<int64_t>{}, groups}) {
    const std::vector<int64_t> order = ot_noise_order(x0, x1, g, 0, ws);
    check_order(order, g);
    // The exact optimum of each group, by the exact solver on the group's rows.
    double best = 0.0;
    for (int64_t group : (g.empty() ? std::vector<int64_t>{-1} : std::vector<int64_t>{0, 1})) {
      std::vector<int64_t> rows;
      for (int64_t i = 0; i < n; ++i)
        if (group < 0 || g[size_t(i)] == group) rows.push_back(i);
      const Tensor a = take_rows(x0, rows), b = take_rows(x1, rows);
      const std::vector<int32_t> p = ot_pairing(a.to_vector().data(), b.to_vector().data(), int64_t(rows.size()), 2);
      best += pairing_cost(a, b, std::vector<int64_t>(p.begin(), p.end()));
    }
    const double cost = pairing_cost(x0, x1, order);
    CHECK(cost >= best * (1.0 - 1e-6));
    CHECK(cost <= best * (1.0 + kAuctionEps) * (1.0 + 1e-6));
  }
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
