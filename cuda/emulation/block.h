// cuda/emulation/block.h: running a launch's grid on the CPU (block.cpp), for the runtime's queue.
#pragma once
#include <functional>
#include <string>

#include <cuda_runtime.h>

namespace fm_emu {

// A fault found while a kernel ran (a barrier not every thread reaches, a bad warp mask, an
// exception): on a GPU the context is lost; the runtime makes it the sticky error.
struct KernelFault {
  std::string message;  // "kernel K, block (x,y,z), thread (x,y,z): what"
};

// Runs every block of config.grid, calling thread_body once per thread; throws KernelFault.
void run_grid(const LaunchConfig& config, const std::function<void()>& thread_body);

}  // namespace fm_emu
