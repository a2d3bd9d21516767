// tests/test_dist.cpp: the pieces of dist/ that one process can check (suite 'cpu'): the rank-order
// sum, the row split, the chunk gathers and GradSync at one process. Runs on several ranks are
// tests/test_mpi.cpp's (suite 'mpi').
#include <doctest/doctest.h>

#include "dist/dist.h"
#include "dist/grad_sync.h"
#include "tensor/ops.h"
#include "tests/test_util.h"

using namespace fm;

TEST_SUITE("cpu") {

TEST_CASE("the rank-order sum adds left to right, rank 0 first") {
  // (1e8 - 1e8) + 1 is 1, but (1 - 1e8) + 1e8 is 0 in float: 1 - 1e8 rounds to -1e8.
  const std::vector<float> a{1e8f, 2.0f}, b{-1e8f, 3.0f}, c{1.0f, 4.0f};
  std::vector<float> out(2);
  dist::sum_in_rank_order(out.data(), {a.data(), b.data(), c.data()}, 2);
  CHECK(out[0] == 1.0f);
  CHECK(out[1] == 9.0f);
  dist::sum_in_rank_order(out.data(), {c.data(), b.data(), a.data()}, 2);
  CHECK(out[0] == 0.0f);
}

TEST_CASE("rows split as evenly as possible, the first ranks one more") {
  std::vector<dist::RowRange> r;
  for (int k = 0; k < 3; ++k) r.push_back(dist::split_rows(10, k, 3));
  CHECK(r[0].first == 0);
  CHECK(r[0].count == 4);
  CHECK(r[1].first == 4);
  CHECK(r[1].count == 3);
  CHECK(r[2].first == 7);
  CHECK(r[2].count == 3);
  CHECK(dist::split_rows(2, 2, 3).count == 0);
  CHECK_THROWS_AS(dist::split_rows(5, 3, 3), std::runtime_error);
}

TEST_CASE("one process: rank 0 of 1, and the collectives leave everything as it is") {
  CHECK(dist::rank() == 0);
  CHECK(dist::size() == 1);
  CHECK(dist::owns_chunk(0));
  CHECK(dist::owns_chunk(5));
  Tensor x = fm::testing::randu({3, 4}, 1);
  const std::vector<float> before = x.to_vector();
  dist::allreduce_sum(x);
  CHECK(x.to_vector() == before);
  CHECK(dist::gather_chunks({1.0, 2.0, 3.0}, {2, 1}) == std::vector<double>{1.0, 2.0, 3.0});
  CHECK(dist::gather_chunk_rows(x, {2, 1}).to_vector() == before);
}

TEST_CASE("GradSync at one process returns the loss and keeps the gradients") {
  dist::GradSync sync({{2, 3}, {4}, {5}}, Device::CPU, /*bucket_floats=*/10);
  CHECK(sync.buckets() == 2);  // 6 + 4 floats, then 5 (a bucket closes before it would overflow)
  Tensor g0 = fm::testing::randu({2, 3}, 2), g2 = fm::testing::randu({5}, 3), undefined;
  const std::vector<float> v0 = g0.to_vector();
  Tensor loss = Tensor::full({}, 0.75f);
  CHECK(sync.average({&g0, &undefined, &g2}, loss).item() == 0.75f);
  CHECK(g0.to_vector() == v0);
  CHECK(!undefined.defined());
  CHECK_THROWS_AS(sync.average({&g0}, loss), std::runtime_error);
}

}  // TEST_SUITE
