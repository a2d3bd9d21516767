// tests/test_gemm.cpp: sgemm against the double-accumulating reference, at odd shapes, all
// transpose combinations, padded strides, every kernel set, and bitwise across 1, 2 and 3 threads.
#include <doctest/doctest.h>
#include "tensor/cpu/thread_pool.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "tensor/cpu/gemm.h"
#include "tensor/cpu/gemm_kernels.h"

namespace {

struct Shape3 {
  int64_t M, N, K;
};

// Odd sizes: single elements; sizes just past the tiles and cache blocks (14 x 32, kc 256,
// mc 336, nc 4096 for AVX-512; 6 x 16 and 4 x 8 for the others); an A block too big to be
// packed by all threads together (1500 x 250); the direct paths for M or N <= 8 on both sides of
// the limit; a tiny K; and the MLP's 3-wide input and 2-wide output layers.
const std::vector<Shape3> kOddShapes = {
    {1, 1, 1},     {7, 13, 5},     {33, 65, 129}, {300, 17, 1000}, {513, 511, 257},
    {1500, 37, 250}, {15, 33, 400}, {5, 4200, 7}, {200, 64, 3},    {64, 2, 37},
    {50, 3, 3},    {300, 4, 200},  {2, 70, 40},   {3, 5, 300},     {4, 300, 9},
    {100, 8, 50},  {100, 9, 50},   {8, 100, 70},  {9, 100, 70},
};

// A small LCG so the data are identical everywhere: uniform in [-1, 1).
struct Lcg {
  uint64_t s;
  float next() {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return float(int32_t(s >> 32)) * (1.0f / 2147483648.0f);
  }
};

struct Problem {
  bool ta, tb;
  int64_t M, N, K, lda, ldb, ldc;
  std::vector<float> A, B, C;  // C: the initial contents (NaN when beta is 0)

  Problem(bool ta_, bool tb_, Shape3 s, float beta, uint64_t seed) : ta(ta_), tb(tb_), M(s.M), N(s.N), K(s.K) {
    // Padded row strides, so a kernel that assumes ld == width reads the wrong values.
    lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
    Lcg g{seed};
    A.resize((ta ? K : M) * lda);
    B.resize((tb ? N : K) * ldb);
    C.resize(M * ldc);
    for (float& x : A) x = g.next();
    for (float& x : B) x = g.next();
    for (float& x : C) x = beta == 0.0f ? std::numeric_limits<float>::quiet_NaN() : g.next();
  }
  std::vector<float> run(float alpha, float beta) const {
    std::vector<float> out = C;
    fm::cpu::sgemm(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, out.data(), ldc);
    return out;
  }
};

// Checks sgemm against sgemm_reference; the tolerance is relative to the scale of the sum,
// |alpha| * (|op(A)| @ |op(B)|) + |beta * C|, so cancellation does not make it meaningless.
void check_against_reference(bool ta, bool tb, Shape3 s, float alpha, float beta) {
  CAPTURE(ta);
  CAPTURE(tb);
  CAPTURE(s.M);
  CAPTURE(s.N);
  CAPTURE(s.K);
  CAPTURE(beta);
  Problem p(ta, tb, s, beta, 1234 + uint64_t(s.M * 31 + s.N * 7 + s.K));
  const std::vector<float> got = p.run(alpha, beta);
  std::vector<float> want = p.C;
  fm::cpu::sgemm_reference(ta, tb, p.M, p.N, p.K, alpha, p.A.data(), p.lda, p.B.data(), p.ldb, beta,
                      want.data(), p.ldc);
  std::vector<float> absA(p.A.size()), absB(p.B.size()), scale(p.C.size());
  for (size_t i = 0; i < absA.size(); ++i) absA[i] = std::fabs(p.A[i]);
  for (size_t i = 0; i < absB.size(); ++i) absB[i] = std::fabs(p.B[i]);
  fm::cpu::sgemm_reference(ta, tb, p.M, p.N, p.K, std::fabs(alpha), absA.data(), p.lda, absB.data(),
                      p.ldb, 0.0f, scale.data(), p.ldc);

  int64_t bad = 0, pad_touched = 0;
  for (int64_t i = 0; i < p.M; ++i)
    for (int64_t j = 0; j < p.ldc; ++j) {
      const int64_t at = i * p.ldc + j;
      if (j >= p.N) {  // the padding between rows must be left alone
        if (std::memcmp(&got[at], &p.C[at], sizeof(float)) != 0) ++pad_touched;
        continue;
      }
      const float c0 = beta == 0.0f ? 0.0f : std::fabs(beta * p.C[at]);
      const float tol = 1e-5f * (scale[at] + c0) + 1e-30f;
      if (!(std::fabs(got[at] - want[at]) <= tol)) {  // also catches NaN leaking from C
        if (bad++ < 3) MESSAGE("C[" << i << "][" << j << "] = " << got[at] << ", want " << want[at]);
      }
    }
  CHECK(bad == 0);
  CHECK(pad_touched == 0);
}

void check_all_shapes(const std::vector<float>& betas) {
  for (Shape3 s : kOddShapes)
    for (int t = 0; t < 4; ++t)
      for (float beta : betas) check_against_reference(t & 1, t & 2, s, -0.75f, beta);
}

// Restores the thread count and the automatic kernel choice however a test case exits.
struct Restore {
  int threads = fm::num_threads();
  ~Restore() {
    fm::set_num_threads(threads);
    fm::cpu::gemm_detail::force_kernels(nullptr);
    fm::cpu::gemm_detail::force_tile(-1);
  }
};

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("sgemm matches the reference at odd shapes") {
  check_all_shapes({0.0f, 1.0f, 0.5f});
}

TEST_CASE("sgemm at the MLP's shapes") {
  // forward, backward dX = dY W, and dW = dY^T X, at a reduced batch of 600 rows
  for (Shape3 s : {Shape3{600, 512, 3}, Shape3{600, 2, 512}, Shape3{600, 3, 512}})
    check_against_reference(false, false, s, 1.0f, 0.0f);
  for (Shape3 s : {Shape3{600, 512, 512}, Shape3{600, 3, 512}})
    check_against_reference(false, true, s, 1.0f, 1.0f);
  for (Shape3 s : {Shape3{512, 512, 600}, Shape3{512, 3, 600}, Shape3{2, 512, 600}})
    check_against_reference(true, false, s, 1.0f, 1.0f);
}

TEST_CASE("the tile choice avoids padding at a convolution's channel counts") {
  const fm::cpu::gemm_detail::KernelSet& ks = fm::cpu::gemm_detail::active_kernels();
  // Only the AVX-512 set has several tiles to choose from; the AVX2 and portable sets have one
  // (on a CPU without AVX-512 there is no choice to check).
  if (ks.ntiles == 1) {
    MESSAGE("the " << ks.name << " kernel set has a single tile");
    return;
  }
  for (int64_t M : {16, 32, 64, 96}) {
    const fm::cpu::gemm_detail::Tile& t = fm::cpu::gemm_detail::tile_for(ks, M, 784);
    CAPTURE(M);
    CAPTURE(t.mr);
    CHECK((M + t.mr - 1) / t.mr * t.mr - M <= M / 16);  // at most 1/16 of the rows are padding
  }
}

TEST_CASE("sgemm with K = 0 or alpha = 0 only scales C") {
  Problem p(false, false, {5, 6, 0}, 0.5f, 7);
  std::vector<float> got = p.run(2.0f, 0.5f);
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t j = 0; j < 6; ++j) CHECK(got[i * p.ldc + j] == 0.5f * p.C[i * p.ldc + j]);
  Problem q(false, false, {5, 6, 4}, 0.0f, 8);
  got = q.run(0.0f, 0.0f);
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t j = 0; j < 6; ++j) CHECK(got[i * q.ldc + j] == 0.0f);
}

TEST_CASE("sgemm results are bitwise identical for 1, 2 and 3 threads") {
  Restore restore;
  for (const char* name : {"portable", "avx2", "avx512"}) {
    if (!fm::cpu::gemm_detail::force_kernels(name)) continue;
    for (Shape3 s : {Shape3{513, 511, 257}, Shape3{2000, 100, 300}, Shape3{37, 900, 401},
                     Shape3{4096, 2, 512}, Shape3{512, 3, 4096}, Shape3{2, 512, 4096},
                     Shape3{4096, 64, 3}})
      for (int t = 0; t < 4; ++t) {
        CAPTURE(name);
        CAPTURE(s.M);
        CAPTURE(s.N);
        CAPTURE(s.K);
        CAPTURE(t);
        Problem p(t & 1, t & 2, s, 0.5f, 99);
        fm::set_num_threads(1);
        const std::vector<float> one = p.run(1.25f, 0.5f);
        for (int threads : {2, 3}) {
          fm::set_num_threads(threads);
          const std::vector<float> many = p.run(1.25f, 0.5f);
          CHECK(std::memcmp(one.data(), many.data(), one.size() * sizeof(float)) == 0);
        }
      }
  }
}

TEST_CASE("every kernel set this CPU supports matches the reference") {
  Restore restore;
  CHECK(std::string(fm::cpu::sgemm_kernel_name()).size() > 0);
  for (const char* name : {"portable", "avx2", "avx512"}) {
    CAPTURE(name);
    if (!fm::cpu::gemm_detail::force_kernels(name)) {
      MESSAGE("kernel " << name << " is not supported on this CPU; skipped");
      continue;
    }
    CHECK(std::string(fm::cpu::sgemm_kernel_name()) == name);
    const fm::cpu::gemm_detail::KernelSet& ks = fm::cpu::gemm_detail::active_kernels();
    for (int t = 0; t < ks.ntiles; ++t) {  // each register tile, whatever shape it would be picked for
      CAPTURE(ks.tiles[t].mr);
      CAPTURE(ks.tiles[t].nr);
      fm::cpu::gemm_detail::force_tile(t);
      check_all_shapes({0.0f, 0.5f});
    }
    fm::cpu::gemm_detail::force_tile(-1);
  }
  CHECK_FALSE(fm::cpu::gemm_detail::force_kernels("no-such-kernel"));
}

}  // TEST_SUITE
