// cuda/emulation/runtime.h: what the emulated libraries (cublas.cpp, nccl.cpp) need from the
// emulated runtime (runtime.cpp): its streams and its record of device memory.
#pragma once
#include <cstddef>
#include <functional>
#include <span>
#include <string>

#include <cuda_runtime.h>

namespace fm_emu {

// Queues `work` on the stream (null: the default stream); it runs when the host synchronises.
// Returns the sticky error, or cudaErrorInvalidResourceHandle for a stream that does not exist.
cudaError_t enqueue(cudaStream_t stream, std::function<void()> work);

// True when [p, p + bytes) lies inside one live device allocation.
bool is_device_range(const void* p, size_t bytes);

// One line on stderr, "fm cuda emulation: <what>": the detail behind an error code.
void report(const std::string& what);

// The emulated libraries that the backend would load with dlopen (cuBLAS, NCCL): a handle for
// `what`, and the entry point `name` of it (null if the emulation does not have it).
void* open_library(const char* what);
void* library_symbol(void* library, const char* name);
void* cublas_symbol(const char* name);  // cublas.cpp
void* nccl_symbol(const char* name);    // nccl.cpp

// A library's entry points by name, and the one of `table` called `name` (null if none).
struct Symbol {
  const char* name;
  void* fn;
};
void* find_symbol(std::span<const Symbol> table, const char* name);

}  // namespace fm_emu
