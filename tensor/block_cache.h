// tensor/block_cache.h: the cache of released blocks behind both allocators, the host's
// (tensor/allocator.cpp) and the GPU's (cuda/allocator.cu). A training step or a likelihood
// evaluation allocates the same few hundred buffers every time; fresh memory costs page faults
// on the host and a device-wide synchronisation on the GPU. So released blocks are kept, by
// size, and handed to the next request that fits (best fit, at most 25 % larger). Thread-safe.
// FM_ALLOCATOR=system turns caching off (for before/after measurements).
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>

namespace fm {

struct AllocatorStats {
  int64_t in_use_bytes;   // handed out and not yet freed
  int64_t peak_bytes;     // the largest in_use_bytes so far
  int64_t cached_bytes;   // released blocks held for reuse
  int64_t system_allocs;  // blocks that had to come from the system
};

class BlockCache {
 public:
  BlockCache();
  // A cached block of at least `bytes` (and at most 25 % more), now in use, with its true size in
  // `bytes`; nullptr when none fits (the caller then allocates and calls counted_new).
  void* take(size_t& bytes);
  // A block of `bytes` fresh from the system, now in use.
  void counted_new(size_t bytes);
  // A block no longer in use: true when the cache keeps it, false when the caller must free it.
  bool give_back(void* p, size_t bytes);
  // Hands every cached block to release(p) and forgets them (returns the memory to the system).
  template <class Release>
  void drain(const Release& release) {
    std::lock_guard lock(mu_);
    for (auto& [bytes, p] : free_) release(p);
    free_.clear();
    stats_.cached_bytes = 0;
  }
  AllocatorStats stats() const;
  void reset_peak();  // peak_bytes = in_use_bytes: the next peak is measured from now

 private:
  mutable std::mutex mu_;
  std::multimap<size_t, void*> free_;  // by size, for best fit
  AllocatorStats stats_{};
  bool enabled_ = true;
};

}  // namespace fm
