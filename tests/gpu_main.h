// tests/gpu_main.h: the main() of the gpu suites: without a usable CUDA device (or, with
// needs_fm, without the fm binary that meson passes in FM_BIN) it prints why and exits 77, which
// Meson reports as skipped; else it runs the suite's doctest cases.
#pragma once
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>

#include "cuda/device.h"

inline int gpu_suite_main(int argc, char** argv, bool needs_fm = false) {
  if (!fm::cuda::available()) {
    std::printf("skipped: %s\n", fm::cuda::describe().c_str());
    return 77;
  }
  if (needs_fm && !std::getenv("FM_BIN")) {
    std::printf("skipped: FM_BIN is not set (run through meson test)\n");
    return 77;
  }
  std::printf("%s\n", fm::cuda::describe().c_str());
  doctest::Context context(argc, argv);
  return context.run();
}
