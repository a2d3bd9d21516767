// cuda/allocator.cu: the caching device allocator. cudaMalloc and cudaFree synchronise the device
// and cost tens of microseconds each, and a training step allocates the same few hundred buffers
// every time; so released blocks are kept and handed to the next request that fits (best fit, at
// most 25 % larger), as the host allocator does (tensor/allocator.cpp). Everything runs on one
// stream, so a block released by one op and reused by the next is only touched in stream order.
// FM_ALLOCATOR=system turns the cache off.
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>

#include "cuda/common.cuh"
#include "cuda/device.h"

namespace fm::cuda {

namespace {

constexpr size_t kAlign = 512;  // cudaMalloc aligns to 256 at least; 512-byte classes avoid slivers

struct Cache {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;  // by size, for best fit
  MemoryStats stats{};
  bool enabled = true;
  Cache() {
    const char* env = std::getenv("FM_ALLOCATOR");
    enabled = !(env && std::strcmp(env, "system") == 0);
  }
};

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: blocks may be freed during static destruction
  return *c;
}

void require_device() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0)
    throw std::runtime_error(std::string("no CUDA device found (this binary has CUDA support, but ") +
                             (status == cudaSuccess ? "the machine has no GPU" : cudaGetErrorString(status)) + ")");
}

}  // namespace

void* alloc(size_t& bytes) {
  static const bool have_device = (require_device(), true);
  (void)have_device;
  bytes = (bytes + kAlign - 1) / kAlign * kAlign;
  Cache& c = cache();
  std::unique_lock lock(c.mu);
  if (c.enabled) {
    auto it = c.free_blocks.lower_bound(bytes);
    if (it != c.free_blocks.end() && it->first <= bytes + bytes / 4) {
      bytes = it->first;
      void* p = it->second;
      c.free_blocks.erase(it);
      c.stats.cached_bytes -= int64_t(bytes);
      c.stats.in_use_bytes += int64_t(bytes);
      c.stats.peak_bytes = std::max(c.stats.peak_bytes, c.stats.in_use_bytes);
      return p;
    }
  }
  void* p = nullptr;
  cudaError_t status = cudaMalloc(&p, bytes);
  if (status == cudaErrorMemoryAllocation && !c.free_blocks.empty()) {  // give the cache back and retry once
    cudaGetLastError();
    for (auto& [size, block] : c.free_blocks) cudaFree(block);
    c.free_blocks.clear();
    c.stats.cached_bytes = 0;
    status = cudaMalloc(&p, bytes);
  }
  check(status, ("cudaMalloc of " + std::to_string(bytes) + " bytes").c_str());
  ++c.stats.system_allocs;
  c.stats.in_use_bytes += int64_t(bytes);
  c.stats.peak_bytes = std::max(c.stats.peak_bytes, c.stats.in_use_bytes);
  return p;
}

void free(void* p, size_t bytes) {
  if (!p) return;
  Cache& c = cache();
  std::unique_lock lock(c.mu);
  c.stats.in_use_bytes -= int64_t(bytes);
  if (c.enabled) {
    c.free_blocks.emplace(bytes, p);
    c.stats.cached_bytes += int64_t(bytes);
    return;
  }
  cudaFree(p);  // never throws: called from destructors
}

MemoryStats memory_stats() {
  Cache& c = cache();
  std::lock_guard lock(c.mu);
  return c.stats;
}

void release_cached_memory() {
  Cache& c = cache();
  std::lock_guard lock(c.mu);
  cudaStreamSynchronize(stream());
  for (auto& [bytes, p] : c.free_blocks) cudaFree(p);
  c.free_blocks.clear();
  c.stats.cached_bytes = 0;
}

}  // namespace fm::cuda
