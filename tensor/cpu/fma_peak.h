// tensor/cpu/fma_peak.h: the machine's arithmetic limit, measured: a register-only FMA loop on
// every thread (fm bench --only peak, and the "% of peak" of every bench row). No memory traffic,
// no dependency stalls: what the cores' FMA units can do at most, with the widest vectors this
// build and CPU have (AVX-512, AVX2 + FMA, or the portable loop).
#pragma once

namespace fm::cpu {

struct FmaPeak {
  double gflops = 0.0;   // all threads together
  int threads = 0;
  const char* isa = "";  // "avx512", "avx2" or "portable"
};

// Runs the loop on num_threads() threads for about `seconds` of wall time.
FmaPeak measure_fma_peak(double seconds = 0.25);

}  // namespace fm::cpu
