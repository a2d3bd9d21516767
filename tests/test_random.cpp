// tests/test_random.cpp: Philox against the published known-answer vectors, distribution
// moments, and independence from the thread count.
#include <doctest/doctest.h>
#include "tensor/cpu/thread_pool.h"

#include <cmath>
#include <cstring>

#include "tensor/random.h"

using namespace fm;

TEST_SUITE("cpu") {

TEST_CASE("philox4x32-10 matches the Random123 known-answer tests") {
  auto a = philox4x32({0u, 0u, 0u, 0u}, {0u, 0u});
  CHECK(a == std::array<uint32_t, 4>{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
  auto b = philox4x32({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu});
  CHECK(b == std::array<uint32_t, 4>{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
  auto c = philox4x32({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u});
  CHECK(c == std::array<uint32_t, 4>{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});
}

TEST_CASE("normal, uniform and rademacher draws have the right moments") {
  const int64_t n = 400000;
  Tensor t = Tensor::empty({n});
  Rng rng(42);
  rng.normal(t);
  double m = 0, m2 = 0, m4 = 0;
  for (int64_t i = 0; i < n; ++i) {
    double x = t.data()[i];
    m += x; m2 += x * x; m4 += x * x * x * x;
  }
  CHECK(std::fabs(m / n) < 5.0 / std::sqrt(double(n)));
  CHECK(m2 / n == doctest::Approx(1.0).epsilon(0.01));
  CHECK(m4 / n == doctest::Approx(3.0).epsilon(0.03));  // Gaussian kurtosis
  rng.uniform(t, -1.0f, 3.0f);
  double lo = 1e9, hi = -1e9, mu = 0;
  for (int64_t i = 0; i < n; ++i) { lo = std::min(lo, double(t.data()[i])); hi = std::max(hi, double(t.data()[i])); mu += t.data()[i]; }
  CHECK(lo >= -1.0);
  CHECK(hi < 3.0);
  CHECK(mu / n == doctest::Approx(1.0).epsilon(0.01));
  rng.rademacher(t);
  double s = 0;
  int64_t not_pm1 = 0;
  for (int64_t i = 0; i < n; ++i) { not_pm1 += std::fabs(t.data()[i]) != 1.0f; s += t.data()[i]; }
  CHECK(not_pm1 == 0);
  CHECK(std::fabs(s / n) < 5.0 / std::sqrt(double(n)));
  std::vector<int64_t> k(n);
  rng.integers(k.data(), n, 7);
  std::vector<int64_t> count(7, 0);
  int64_t out_of_range = 0;
  for (int64_t v : k) {
    if (v < 0 || v >= 7) { ++out_of_range; continue; }
    ++count[v];
  }
  CHECK(out_of_range == 0);
  for (int64_t c : count) CHECK(std::fabs(double(c) - n / 7.0) < 5.0 * std::sqrt(n / 7.0));
}

TEST_CASE("successive draws differ and a stream resumes from (seed, offset)") {
  Tensor a = Tensor::empty({1000}), b = Tensor::empty({1000}), c = Tensor::empty({1000});
  Rng rng(7);
  rng.normal(a);
  Rng resume(rng.seed(), rng.offset());
  rng.normal(b);
  resume.normal(c);
  CHECK(std::memcmp(b.data(), c.data(), 4000) == 0);
  CHECK(std::memcmp(a.data(), b.data(), 4000) != 0);
}

TEST_CASE("a share of a draw is those rows of the whole draw, and moves the stream as the whole draw") {
  // Rows of 7 words: shares start at words that are not multiples of 4 (mid-block).
  for (int64_t first : {int64_t(0), int64_t(1), int64_t(3), int64_t(5)}) {
    CAPTURE(first);
    const int64_t count = 4, total = 11, cols = 7;
    auto whole_and_share = [&](auto draw) {
      Rng a(9, 2), b(9, 2);
      Tensor whole = Tensor::empty({total, cols}), part = Tensor::empty({count, cols});
      draw(a, whole);
      b.set_share({first, count, total});
      draw(b, part);
      CHECK(a.offset() == b.offset());
      CHECK(part.to_vector() == whole.rows(first, first + count).to_vector());
    };
    whole_and_share([](Rng& r, Tensor& t) { r.uniform(t, -1.0f, 2.0f); });
    whole_and_share([](Rng& r, Tensor& t) { r.normal(t); });
    whole_and_share([](Rng& r, Tensor& t) { r.rademacher(t); });
    // Integers: two words each.
    Rng a(10), b(10);
    std::vector<int64_t> whole(total), part(count);
    a.integers(whole.data(), total, 1000);
    b.set_share({first, count, total});
    b.integers(part.data(), count, 1000);
    CHECK(a.offset() == b.offset());
    CHECK(part == std::vector<int64_t>(whole.begin() + first, whole.begin() + first + count));
  }
  // Two shares of a batch of 10 split 6 + 4 are the whole draw, and a draw of another size throws.
  Rng w(3), s0(3), s1(3);
  Tensor whole = Tensor::empty({10, 3}), p0 = Tensor::empty({6, 3}), p1 = Tensor::empty({4, 3});
  w.normal(whole);
  s0.set_share({0, 6, 10});
  s1.set_share({6, 4, 10});
  s0.normal(p0);
  s1.normal(p1);
  CHECK(p0.to_vector() == whole.rows(0, 6).to_vector());
  CHECK(p1.to_vector() == whole.rows(6, 10).to_vector());
  Tensor wrong = Tensor::empty({5, 3});
  CHECK_THROWS_WITH_AS(s0.normal(wrong), doctest::Contains("a draw of 5 rows from a stream shared as 6 of 10 rows"),
                       std::runtime_error);
  CHECK_THROWS_AS(s0.set_share({8, 4, 10}), std::runtime_error);
  // seek keeps the share; skip moves as an unshared draw of that many numbers.
  s0.seek(0);
  CHECK(s0.share().count == 6);
  Rng k(4), d(4);
  k.skip(13);
  Tensor t13 = Tensor::empty({13});
  d.uniform(t13);
  CHECK(k.offset() == d.offset());
}

TEST_CASE("random tensors do not depend on the number of threads") {
  Tensor a = Tensor::empty({300001}), b = Tensor::empty({300001});
  int saved = fm::num_threads();
  fm::set_num_threads(1);
  Rng(9).normal(a);
  fm::set_num_threads(2);
  Rng(9).normal(b);
  fm::set_num_threads(saved);
  CHECK(std::memcmp(a.data(), b.data(), a.numel() * 4) == 0);
}

}  // TEST_SUITE
