// tensor/cpu/gemm_kernels.cpp: the portable micro-kernels behind sgemm, and the choice of a set.
//
// Plain C++ only: the AVX-512 and AVX2 sets are in gemm_kernels_x86.cpp, built on x86 hosts only
// (x86_kernels.h), and are picked only when they are built in and cpu_features() says the CPU
// runs them; otherwise the portable set is what runs.

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tensor/cpu/cpu_features.h"
#include "tensor/cpu/gemm_kernels.h"
#include "tensor/cpu/gemm_loops.h"
#include "tensor/cpu/x86_kernels.h"

namespace fm::cpu::gemm_detail {
namespace {

// The portable micro-kernel (the scheme all sets share is at the top of gemm_kernels_x86.cpp):
// plain loops the compiler vectorises for whatever the baseline is (SSE2 here). A
// 4 x 8 tile is 8 SSE accumulators, leaving room for B and the broadcast in 16 registers.
constexpr int kPortMR = 4, kPortNR = 8;
void micro_portable(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha,
                    float beta, int m, int n) {
  float acc[kPortMR][kPortNR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    for (int r = 0; r < kPortMR; ++r)
      for (int j = 0; j < kPortNR; ++j) acc[r][j] += a[r] * b[j];
    a += kPortMR;
    b += kPortNR;
  }
  update_tile(&acc[0][0], kPortNR, c, ldc, alpha, beta, m, n);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Packing (see PackBlock). A k-major source is swept row by row across all panels of the block,
// so that memory is read in long runs: a 14-float run per row and panel streams badly from DRAM.
// ---------------------------------------------------------------------------------------------

void pack_generic(bool k_major, const float* src, int64_t ld, int64_t rows, int64_t kc, int width,
                  float* dst) {
  if (k_major) {
    for (int64_t k = 0; k < kc; ++k)
      for (int64_t p = 0; p < rows; p += width) {
        const float* s = src + k * ld + p;
        float* d = dst + p * kc + k * width;
        const int n = int(std::min<int64_t>(width, rows - p));
        for (int r = 0; r < n; ++r) d[r] = s[r];
        for (int r = n; r < width; ++r) d[r] = 0.0f;
      }
    return;
  }
  // A transpose. Read a run of 16 k (one cache line) from each row in turn, rather than one float
  // of every row per k: at a stride of 1024 floats all rows fall in one L1 set and evict each other.
  constexpr int64_t kRun = 16;
  for (int64_t p = 0; p < rows; p += width) {
    const int n = int(std::min<int64_t>(width, rows - p));
    for (int64_t k0 = 0; k0 < kc; k0 += kRun) {
      const int64_t kn = std::min(kRun, kc - k0);
      float* d = dst + p * kc + k0 * width;
      for (int r = 0; r < n; ++r) {
        const float* s = src + (p + r) * ld + k0;
        for (int64_t k = 0; k < kn; ++k) d[k * width + r] = s[k];
      }
      for (int64_t k = 0; k < kn; ++k)
        for (int r = n; r < width; ++r) d[k * width + r] = 0.0f;
    }
  }
}

namespace {

// The small-shape kernels (gemm_loops.h) at the baseline's vector width.
void dot_portable(const SmallGemm& g, int64_t l0, int64_t l1) { dot_body<8>(g, l0, l1); }
void axpy_portable(const SmallGemm& g, int64_t l0, int64_t l1) { axpy_body<12>(g, l0, l1); }

}  // namespace

// The portable tile (see above); the x86 sets and their measurements are in gemm_kernels_x86.cpp.
const KernelSet kPortable = {"portable", {{kPortMR, kPortNR, 4 * 64, micro_portable, 1.0}}, 1, 256, 4096,
                             pack_generic, dot_portable, axpy_portable};

namespace {
std::atomic<int> g_forced_tile{-1};
}  // namespace

const Tile& tile_for(const KernelSet& ks, int64_t M, int64_t N) {
  const int forced = g_forced_tile.load(std::memory_order_relaxed);
  if (forced >= 0 && forced < ks.ntiles) return ks.tiles[forced];
  const Tile* best = &ks.tiles[0];
  double best_cost = 0;
  for (int i = 0; i < ks.ntiles; ++i) {
    const Tile& t = ks.tiles[i];
    const double cost = double((M + t.mr - 1) / t.mr * t.mr) * double((N + t.nr - 1) / t.nr * t.nr) / t.speed;
    if (i == 0 || cost < best_cost) best = &t, best_cost = cost;
  }
  return *best;
}

void force_tile(int index) { g_forced_tile.store(index, std::memory_order_relaxed); }

namespace {

// The sets this build has, fastest first: the x86 ones only where they are compiled in.
template <class F>
const KernelSet* first_of(F&& pick) {
  if constexpr (kHaveX86Kernels)
    for (const KernelSet* k : {&kAvx512, &kAvx2})
      if (pick(*k)) return k;
  return pick(kPortable) ? &kPortable : nullptr;
}

bool supported(const KernelSet& k) {
  if constexpr (kHaveX86Kernels) {
    if (&k == &kAvx512) return cpu_features().avx512f;
    if (&k == &kAvx2) return cpu_features().avx2_fma;
  }
  return true;
}

const KernelSet* by_name(const char* name) {
  return first_of([&](const KernelSet& k) { return std::strcmp(name, k.name) == 0; });
}

const KernelSet* detect() {
  if (const char* env = std::getenv("FM_GEMM_KERNEL"); env && *env) {
    const KernelSet* k = by_name(env);
    if (k && supported(*k)) return k;
    std::fprintf(stderr, "fm: FM_GEMM_KERNEL=%s is unknown or unsupported here; ignoring it\n", env);
  }
  return first_of(supported);  // the portable set is always supported
}

std::atomic<const KernelSet*> g_active{nullptr};

}  // namespace

const KernelSet& active_kernels() {
  const KernelSet* k = g_active.load(std::memory_order_acquire);
  if (!k) {
    k = detect();  // idempotent, so a race here only repeats the detection
    g_active.store(k, std::memory_order_release);
  }
  return *k;
}

bool avx512_active() { return std::strcmp(active_kernels().name, "avx512") == 0; }

bool force_kernels(const char* name) {
  if (!name) {
    g_active.store(detect(), std::memory_order_release);
    return true;
  }
  const KernelSet* k = by_name(name);
  if (!k || !supported(*k)) return false;
  g_active.store(k, std::memory_order_release);
  return true;
}

}  // namespace fm::cpu::gemm_detail
