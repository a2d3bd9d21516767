// tensor/allocator.cpp
#include "tensor/allocator.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>

#include "cuda/device.h"

namespace fm {

namespace {

constexpr size_t kAlign = 64;

struct Cache {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;  // by size, for best fit
  AllocatorStats stats{};
  bool enabled = true;
  Cache() {
    const char* env = std::getenv("FM_ALLOCATOR");
    enabled = !(env && std::strcmp(env, "system") == 0);
  }
  ~Cache() {
    for (auto& [bytes, p] : free_blocks) std::free(p);
  }
};

Cache& cache() {
  static Cache c;
  return c;
}

size_t rounded_bytes(int64_t n) {
  return (static_cast<size_t>(n < 1 ? 1 : n) * sizeof(float) + kAlign - 1) & ~(kAlign - 1);
}

void* system_alloc(size_t bytes) {
  void* p = std::aligned_alloc(kAlign, bytes);
  if (!p) throw std::runtime_error("out of memory allocating " + std::to_string(bytes) + " bytes");
  return p;
}

Block host_alloc(int64_t floats) {
  const size_t bytes = rounded_bytes(floats);
  Cache& c = cache();
  std::unique_lock lock(c.mu);
  if (c.enabled) {
    auto it = c.free_blocks.lower_bound(bytes);  // the smallest cached block that is big enough
    if (it != c.free_blocks.end() && it->first <= bytes + bytes / 4) {
      Block b{static_cast<float*>(it->second), it->first};
      c.free_blocks.erase(it);
      c.stats.cached_bytes -= int64_t(b.bytes);
      c.stats.in_use_bytes += int64_t(b.bytes);
      c.stats.peak_bytes = std::max(c.stats.peak_bytes, c.stats.in_use_bytes);
      return b;
    }
  }
  ++c.stats.system_allocs;
  c.stats.in_use_bytes += int64_t(bytes);
  c.stats.peak_bytes = std::max(c.stats.peak_bytes, c.stats.in_use_bytes);
  lock.unlock();
  return {static_cast<float*>(system_alloc(bytes)), bytes};
}

void host_free(const Block& block) {
  Cache& c = cache();
  std::unique_lock lock(c.mu);
  c.stats.in_use_bytes -= int64_t(block.bytes);
  if (c.enabled) {
    c.free_blocks.emplace(block.bytes, block.data);
    c.stats.cached_bytes += int64_t(block.bytes);
    return;
  }
  lock.unlock();
  std::free(block.data);
}

}  // namespace

Block alloc_block(Device device, int64_t floats) {
  if (device == Device::CPU) return host_alloc(floats);
  size_t bytes = rounded_bytes(floats);
  float* p = static_cast<float*>(cuda::alloc(bytes));
  return {p, bytes};
}

void free_block(Device device, const Block& block) {
  if (!block.data) return;
  if (device == Device::CPU) host_free(block);
  else cuda::free(block.data, block.bytes);
}

AllocatorStats allocator_stats() {
  Cache& c = cache();
  std::lock_guard lock(c.mu);
  return c.stats;
}

void release_cached_memory() {
  Cache& c = cache();
  std::lock_guard lock(c.mu);
  for (auto& [bytes, p] : c.free_blocks) std::free(p);
  c.free_blocks.clear();
  c.stats.cached_bytes = 0;
}

}  // namespace fm
