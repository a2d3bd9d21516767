// cuda/stub.cpp: compiled when the CUDA toolkit is absent (the MLX "no_gpu" pattern). Nothing
// can create CUDA memory, so no op ever sees a CUDA tensor.
#include <stdexcept>

#include "cuda/device.h"

namespace fm::cuda {

namespace {
[[noreturn]] void not_built() { throw std::runtime_error("built without CUDA support (reconfigure with -Dcuda=enabled where the CUDA Toolkit is installed)"); }
}  // namespace

bool available() { return false; }
std::string unavailable_reason() { return "built without CUDA support"; }
std::string describe() { return "CUDA backend not built (-Dcuda=disabled, or nvcc not found at configure time)"; }

void* alloc(size_t&) { not_built(); }
void free(void*, size_t) {}
AllocatorStats memory_stats() { return {0, 0, 0, 0}; }
void release_cached_memory() {}
void copy(void*, const void*, size_t, Copy) { not_built(); }
void fill(float*, float, size_t) { not_built(); }
void synchronize() {}
int64_t launch_count() { return 0; }
void use_device(int, int) {}
std::string nccl_unique_id() { not_built(); }
void nccl_init(const std::string&, int, int) { not_built(); }
void nccl_allreduce_sum(float*, size_t) { not_built(); }
void nccl_finalize() {}

}  // namespace fm::cuda
