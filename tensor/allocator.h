// tensor/allocator.h: the allocator interface of tensor storage: one block of memory on a device.
// Host memory comes from a cache of released blocks (below); CUDA memory from the CUDA backend
// (cuda/device.h), which a later issue gives a cache of its own.
//
// Why a cache: a training step (or a likelihood evaluation) allocates the same few hundred
// activation and gradient buffers every time, most of them far above malloc's mmap threshold.
// Memory fresh from the kernel costs a page fault per 4 KiB page on first touch (and munmap on
// release): about a quarter of a U-Net training step when measured. So released blocks are
// kept and handed out again to the next request that fits (best fit, at most 25 % larger): a
// step in the steady state allocates no tensor memory at all. (Small blocks would be cheap from
// malloc too; caching them as well keeps the rule simple and checkable.)
//
// FM_ALLOCATOR=system turns the cache off (for before/after measurements).
#pragma once
#include <cstddef>
#include <cstdint>

#include "tensor/block_cache.h"  // AllocatorStats
#include "tensor/device.h"

namespace fm {

// A block of memory on `device`, room for at least the floats asked for (host blocks are 64-byte
// aligned: one cache line, one AVX-512 register). `bytes` is its true size, which free_block
// needs back.
struct Block {
  float* data = nullptr;
  size_t bytes = 0;
};
Block alloc_block(Device device, int64_t floats);  // throws std::runtime_error when it cannot
void free_block(Device device, const Block& block);

// Host allocations only (the cache below):

AllocatorStats allocator_stats();
void reset_peak_memory();  // the peak of allocator_stats() starts again from what is in use now

// Returns every cached block to the system (e.g. between training and evaluation).
void release_cached_memory();

// While one lives, this thread's tensor allocations (host and device) may total at most `bytes`;
// the one that would pass it throws std::runtime_error with `what` and the sizes, before any
// memory is taken. For building something whose size an untrusted input decides (a checkpoint's
// model config: at most the weights the file holds). Not nestable.
class AllocationBudget {
 public:
  AllocationBudget(size_t bytes, const char* what);
  ~AllocationBudget();
  AllocationBudget(const AllocationBudget&) = delete;
  AllocationBudget& operator=(const AllocationBudget&) = delete;
};

}  // namespace fm
