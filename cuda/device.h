// cuda/device.h: the narrow interface the tensor layer uses to reach the CUDA backend: whether a
// device is there, and its memory (allocation and copies). When the project is built without
// nvcc, cuda/stub.cpp implements it: `available()` is false and the memory functions throw
// "built without CUDA support".
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "tensor/block_cache.h"

namespace fm::cuda {

// True when this binary was built with the CUDA backend and a device is present.
bool available();

// One line naming the device (or why there is none), for `fm bench` and the tests.
std::string describe();
// Why available() is false ("no GPU", the driver's complaint, "built without CUDA support").
std::string unavailable_reason();

// Device memory from a caching allocator (cuda/allocator.cu): released blocks are kept and handed
// out again to the next request that fits, so a training step or a likelihood solve in the steady
// state calls cudaMalloc never (FM_ALLOCATOR=system bypasses the cache, as on the host). alloc
// throws std::runtime_error with one line ("no CUDA device found", "built without CUDA support",
// out of memory) instead of returning null; it returns the block's true size in `bytes`.
void* alloc(size_t& bytes);
void free(void* p, size_t bytes);
AllocatorStats memory_stats();  // the cache's counters (tensor/block_cache.h)
void release_cached_memory();

// Copies, in stream order; a copy to the host waits for it, an upload does not (it is staged in a
// pinned buffer, cuda/device.cu), so the host may reuse `src` at once. fill: dst[i] = value.
enum class Copy { HostToDevice, DeviceToHost, DeviceToDevice };
void copy(void* dst, const void* src, size_t bytes, Copy kind);
void fill(float* dst, float value, size_t count);
// Waits until everything queued on the device has run (for timing).
void synchronize();
// Kernels and cuBLAS calls launched so far by this process (fm bench reports them per step).
int64_t launch_count();

// ---- one GPU per process, and NCCL between them (dist/, for data-parallel training) ----------
// Makes device `local_rank` this process's device (cudaSetDevice), one of `local_ranks` processes
// on this host; call before the first call that creates CUDA state (the stream, memory). Throws
// when the host has fewer GPUs than processes (NCCL cannot put two ranks on one GPU).
void use_device(int local_rank, int local_ranks);
// NCCL (cuda/nccl.cu), loaded on first use from libnccl.so.2 like cuBLAS: a unique id that one
// rank makes and every rank passes to nccl_init with its rank, then in-place sums on stream().
std::string nccl_unique_id();
void nccl_init(const std::string& id, int rank, int size);
void nccl_allreduce_sum(float* data, size_t count);
void nccl_finalize();

}  // namespace fm::cuda
