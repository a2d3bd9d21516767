// tests/test_tensor.cpp: tensor views and the CPU kernels against naive loops written here.
#include <doctest/doctest.h>

#include <cmath>

#include "tensor/allocator.h"
#include "tensor/ops.h"
#include "tensor/profile.h"
#include "tensor/random.h"

using namespace fm;

namespace {
Tensor rnd(const Shape& s, uint64_t seed) {
  Tensor t = Tensor::empty(s);
  Rng(seed).uniform(t, -2.0f, 2.0f);
  return t;
}
}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("reshape and rows are views; clone is a copy") {
  Tensor a = Tensor::from({1, 2, 3, 4, 5, 6}, {3, 2});
  Tensor v = a.reshape({2, -1});
  CHECK(v.shape() == Shape{2, 3});
  v.data()[0] = 9;
  CHECK(a.data()[0] == 9);
  Tensor r = a.rows(1, 3);
  CHECK(r.shape() == Shape{2, 2});
  CHECK(r.data()[0] == 3);
  Tensor c = a.clone();
  c.data()[1] = -1;
  CHECK(a.data()[1] == 2);
  CHECK_THROWS(a.reshape({4, 2}));
  CHECK_THROWS(a.rows(2, 4));
}

TEST_CASE("broadcasting binary ops match an index-by-index reference") {
  struct Case { Shape a, b; };
  for (Case cs : {Case{{4, 3}, {3}}, Case{{4, 3}, {4, 1}}, Case{{2, 1, 5}, {3, 1}}, Case{{1}, {2, 3}}, Case{{2, 3, 4}, {2, 3, 4}}}) {
    Tensor a = rnd(cs.a, 1), b = rnd(cs.b, 2);
    Tensor c = mul(a, b), d = sub(a, b);
    Shape os = broadcast_shape(cs.a, cs.b);
    REQUIRE(c.shape() == os);
    int nd = int(os.size());
    for (int64_t i = 0; i < c.numel(); ++i) {
      // Unravel i, then index a and b with stretched dimensions pinned at 0.
      int64_t rem = i, ia = 0, ib = 0, sa = 1, sb = 1;
      for (int d = nd - 1; d >= 0; --d) {
        int64_t coord = rem % os[d];
        rem /= os[d];
        int da = d - (nd - int(cs.a.size())), db = d - (nd - int(cs.b.size()));
        if (da >= 0) { if (cs.a[da] != 1) ia += coord * sa; sa *= cs.a[da]; }
        if (db >= 0) { if (cs.b[db] != 1) ib += coord * sb; sb *= cs.b[db]; }
      }
      CHECK(c.data()[i] == a.data()[ia] * b.data()[ib]);
      CHECK(d.data()[i] == a.data()[ia] - b.data()[ib]);
    }
  }
  CHECK_THROWS(add(rnd({3, 2}, 1), rnd({3}, 2)));
}

TEST_CASE("sum over each axis and sum_to match loops") {
  Tensor x = rnd({3, 4, 5}, 3);
  for (int axis = 0; axis < 3; ++axis) {
    Tensor s = sum(x, axis, true);
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 4; ++j)
        for (int64_t k = 0; k < 5; ++k) {
          int64_t idx[3] = {i, j, k};
          if (idx[axis] != 0) continue;
          double ref = 0;
          for (int64_t r = 0; r < x.dim(axis); ++r) {
            idx[axis] = r;
            ref += x.data()[(idx[0] * 4 + idx[1]) * 5 + idx[2]];
          }
          idx[axis] = 0;
          int64_t o = axis == 0 ? j * 5 + k : axis == 1 ? i * 5 + k : i * 4 + j;
          CHECK(s.data()[o] == doctest::Approx(ref).epsilon(1e-5));
        }
  }
  Tensor t = sum_to(x, {4, 1});
  CHECK(t.shape() == Shape{4, 1});
  double ref = 0;
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t k = 0; k < 5; ++k) ref += x.data()[(i * 4 + 2) * 5 + k];
  CHECK(t.data()[2] == doctest::Approx(ref).epsilon(1e-5));
  CHECK(sum_all(x) == doctest::Approx(sum_all(sum(sum(x, 0), 0))).epsilon(1e-6));
}

TEST_CASE("concat, slice, take_rows and transpose") {
  Tensor a = rnd({2, 3, 2}, 4), b = rnd({2, 1, 2}, 5);
  Tensor c = concat({a, b}, 1);
  CHECK(c.shape() == Shape{2, 4, 2});
  CHECK(c.data()[(1 * 4 + 3) * 2 + 1] == b.data()[1 * 2 + 1]);
  CHECK(c.data()[(1 * 4 + 2) * 2 + 0] == a.data()[(1 * 3 + 2) * 2 + 0]);
  Tensor s = slice(c, 1, 3, 4);
  for (int64_t i = 0; i < s.numel(); ++i) CHECK(s.data()[i] == b.data()[i]);
  Tensor rows = take_rows(rnd({5, 3}, 6), {4, 0, 4});
  Tensor src = rnd({5, 3}, 6);
  CHECK(rows.data()[0] == src.data()[12]);
  CHECK(rows.data()[8] == src.data()[14]);
  Tensor m = rnd({3, 5}, 7), mt = transpose2d(m);
  CHECK(mt.data()[4 * 3 + 2] == m.data()[2 * 5 + 4]);
}

TEST_CASE("matmul and bmm agree with explicit sums") {
  Tensor a = rnd({2, 3, 4}, 8), b = rnd({2, 4, 5}, 9);
  Tensor c = bmm(a, b);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 5; ++j) {
        double ref = 0;
        for (int64_t k = 0; k < 4; ++k) ref += double(a.data()[(n * 3 + i) * 4 + k]) * b.data()[(n * 4 + k) * 5 + j];
        CHECK(c.data()[(n * 3 + i) * 5 + j] == doctest::Approx(ref).epsilon(1e-5));
      }
  Tensor m = rnd({3, 4}, 10), w = rnd({5, 4}, 11);
  Tensor y = matmul(m, w, false, true);  // m w^T
  double ref = 0;
  for (int64_t k = 0; k < 4; ++k) ref += double(m.data()[1 * 4 + k]) * w.data()[3 * 4 + k];
  CHECK(y.data()[1 * 5 + 3] == doctest::Approx(ref).epsilon(1e-5));
  CHECK_THROWS(matmul(m, m));
}

TEST_CASE("unary kernels and their derivatives") {
  Tensor x = rnd({64}, 12);
  Tensor y = unary(UnaryOp::Silu, x), g = unary_backward(UnaryOp::Silu, x, y, Tensor::full({64}, 1.0f));
  for (int64_t i = 0; i < 64; ++i) {
    double v = x.data()[i], s = 1.0 / (1.0 + std::exp(-v));
    CHECK(y.data()[i] == doctest::Approx(v * s).epsilon(1e-5));
    double h = 1e-3, num = ((v + h) / (1 + std::exp(-(v + h))) - (v - h) / (1 + std::exp(-(v - h)))) / (2 * h);
    CHECK(g.data()[i] == doctest::Approx(num).epsilon(1e-4));
  }
  CHECK(all_finite(x));
  x.data()[3] = NAN;
  CHECK_FALSE(all_finite(x));
}

TEST_CASE("the allocator hands a released block to the next request that fits") {
  const AllocatorStats before = allocator_stats();
  const int64_t n = 1 << 18;  // 1 MiB: a cached size
  float* first = nullptr;
  {
    Tensor a = Tensor::empty({n});
    first = a.data();
    CHECK(reinterpret_cast<uintptr_t>(first) % 64 == 0);
    CHECK(allocator_stats().in_use_bytes >= before.in_use_bytes + n * 4);
  }
  const AllocatorStats released = allocator_stats();
  CHECK(released.in_use_bytes == before.in_use_bytes);
  CHECK(released.cached_bytes >= n * 4);
  {
    Tensor b = Tensor::empty({n - 100});  // a little smaller: the same block serves
    CHECK(b.data() == first);
    CHECK(allocator_stats().system_allocs == released.system_allocs);
    Tensor c = Tensor::empty({2 * n});  // much larger: a new block
    CHECK(allocator_stats().system_allocs == released.system_allocs + 1);
  }
  release_cached_memory();
  CHECK(allocator_stats().cached_bytes == 0);
  CHECK(allocator_stats().in_use_bytes == before.in_use_bytes);
}

TEST_CASE("the profiler charges nested scopes to the outermost and only while enabled") {
  profile::reset();
  { FM_PROFILE("outer"); }  // disabled: not recorded
  CHECK(profile::rows().empty());
  profile::enable(true);
  for (int i = 0; i < 3; ++i) {
    FM_PROFILE("outer");
    FM_PROFILE("inner");  // nested: charged to "outer"
  }
  { FM_PROFILE("conv2d", " backward"); }
  profile::enable(false);
  const std::vector<profile::Row> rows = profile::rows();
  REQUIRE(rows.size() == 2);
  for (const profile::Row& r : rows) {
    CHECK((r.name == "outer" || r.name == "conv2d backward"));
    CHECK(r.calls == (r.name == "outer" ? 3 : 1));
    CHECK(r.ms >= 0.0);
  }
  profile::reset();
}

}  // TEST_SUITE
