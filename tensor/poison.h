// tensor/poison.h: the slack of a cached block made visible to AddressSanitizer. Both allocators
// (tensor/allocator.cpp, cuda/allocator.cu) hand out blocks larger than asked for: rounded up, or
// a cached block up to 25 % larger. Under ASan the bytes past the request are poisoned while the
// block is in use, so an overrun is reported as it would be past a malloc'd block; in the
// emulated GPU (cuda/emulation/) that covers the device's memory too. Without ASan: no-ops.
#pragma once
#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define FM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FM_ASAN 1
#endif
#endif
#ifdef FM_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace fm {

// block: `bytes` long, of which the first `used` are the caller's.
inline void poison_slack([[maybe_unused]] void* block, [[maybe_unused]] size_t used, [[maybe_unused]] size_t bytes) {
#ifdef FM_ASAN
  if (used < bytes) __asan_poison_memory_region(static_cast<char*>(block) + used, bytes - used);
#endif
}

// Before the block goes back to the cache or the system: all of it addressable again.
inline void unpoison([[maybe_unused]] void* block, [[maybe_unused]] size_t bytes) {
#ifdef FM_ASAN
  __asan_unpoison_memory_region(block, bytes);
#endif
}

}  // namespace fm
