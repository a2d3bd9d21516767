// tensor/block_cache.cpp
#include "tensor/block_cache.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace fm {

BlockCache::BlockCache() {
  const char* env = std::getenv("FM_ALLOCATOR");
  enabled_ = !(env && std::strcmp(env, "system") == 0);
}

void* BlockCache::take(size_t& bytes) {
  std::lock_guard lock(mu_);
  if (!enabled_) return nullptr;
  auto it = free_.lower_bound(bytes);  // the smallest cached block that is big enough
  if (it == free_.end() || it->first > bytes + bytes / 4) return nullptr;
  bytes = it->first;
  void* p = it->second;
  free_.erase(it);
  stats_.cached_bytes -= int64_t(bytes);
  stats_.in_use_bytes += int64_t(bytes);
  stats_.peak_bytes = std::max(stats_.peak_bytes, stats_.in_use_bytes);
  return p;
}

void BlockCache::counted_new(size_t bytes) {
  std::lock_guard lock(mu_);
  ++stats_.system_allocs;
  stats_.in_use_bytes += int64_t(bytes);
  stats_.peak_bytes = std::max(stats_.peak_bytes, stats_.in_use_bytes);
}

bool BlockCache::give_back(void* p, size_t bytes) {
  std::lock_guard lock(mu_);
  stats_.in_use_bytes -= int64_t(bytes);
  if (!enabled_) return false;
  free_.emplace(bytes, p);
  stats_.cached_bytes += int64_t(bytes);
  return true;
}

AllocatorStats BlockCache::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void BlockCache::reset_peak() {
  std::lock_guard lock(mu_);
  stats_.peak_bytes = stats_.in_use_bytes;
}

}  // namespace fm
