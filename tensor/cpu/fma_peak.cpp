// tensor/cpu/fma_peak.cpp: measure_fma_peak (fma_peak.h).
//
// Every thread runs the loop in bursts of about 10 microseconds until a common deadline; the
// peak is all the threads' flops over the wall time from start to the last thread's return. (One
// task per thread, each lasting the whole window, so every worker takes exactly one.)
#include "tensor/cpu/fma_peak.h"

#include <atomic>
#include <chrono>

#include "tensor/cpu/thread_pool.h"
#include "tensor/cpu/x86_kernels.h"

namespace fm::cpu {

namespace {

volatile float g_sink;

// The portable loop: the same 16 chains of 16 lanes, as plain multiply-adds the compiler
// vectorises for the baseline (two instructions where an FMA unit would use one).
double fma_rounds_portable(int64_t rounds) {
  float acc[16][16];
  for (int c = 0; c < 16; ++c)
    for (int l = 0; l < 16; ++l) acc[c][l] = float(c);
  for (int64_t r = 0; r < rounds; ++r)
    for (int c = 0; c < 16; ++c)
      for (int l = 0; l < 16; ++l) acc[c][l] = acc[c][l] * 0.9999f + 1e-4f;
  float s = 0;
  for (int c = 0; c < 16; ++c) s += acc[c][0];
  g_sink = s;
  return 2.0 * 16 * 16 * double(rounds);
}

}  // namespace

FmaPeak measure_fma_peak(double seconds) {
  FmaPeak peak;
  double (*rounds)(int64_t) = fma_rounds_portable;
  peak.isa = "portable";
  if constexpr (kHaveX86Kernels) {
    if (cpu_features().avx512f) rounds = x86::fma_rounds_avx512, peak.isa = "avx512";
    else if (cpu_features().avx2_fma) rounds = x86::fma_rounds_avx2, peak.isa = "avx2";
  }
  rounds(1000);  // warm up: wakes the vector units (some cores lower their clock for them)
  peak.threads = num_threads();
  using Clock = std::chrono::steady_clock;
  const Clock::time_point t0 = Clock::now();
  const Clock::time_point deadline = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::atomic<double> flops{0.0};
  run_tasks(peak.threads, [&](int64_t) {
    double mine = 0.0;
    while (Clock::now() < deadline) mine += rounds(4096);
    flops.fetch_add(mine);
  });
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  peak.gflops = flops.load() / wall * 1e-9;
  return peak;
}

}  // namespace fm::cpu
