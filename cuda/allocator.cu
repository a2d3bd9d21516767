// cuda/allocator.cu: the caching device allocator. cudaMalloc and cudaFree synchronise the device
// and cost tens of microseconds each, so released blocks are kept in the same cache as the host's
// (tensor/block_cache.h: best fit, at most 25 % larger; FM_ALLOCATOR=system turns it off).
// Everything runs on one stream, so a block released by one op and reused by the next is only
// touched in stream order.
#include <stdexcept>
#include <string>

#include "cuda/common.cuh"
#include "cuda/device.h"
#include "tensor/block_cache.h"
#include "tensor/poison.h"
#if FM_CUDA_EMULATION
#include "cuda/emulation/runtime.h"
#endif

namespace fm::cuda {

namespace {

constexpr size_t kAlign = 512;  // cudaMalloc aligns to 256 at least; 512-byte classes avoid slivers

BlockCache& cache() {
  static BlockCache* c = new BlockCache;  // never destroyed: blocks may be freed during static destruction
  return *c;
}

void require_device() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0)
    throw std::runtime_error(std::string("no CUDA device found (this binary has CUDA support, but ") +
                             (status == cudaSuccess ? "the machine has no GPU" : cudaGetErrorString(status)) + ")");
}

// The emulated GPU's memory is host memory: under AddressSanitizer the bytes of a block past the
// request are unaddressable while it is in use (tensor/poison.h), so a kernel's overrun into them
// is reported. Marked in stream order, queued like a kernel: work queued earlier may still use the
// block as it was. A real GPU's memory is not the host's: nothing to mark.
void mark_in_use([[maybe_unused]] void* p, [[maybe_unused]] size_t used, [[maybe_unused]] size_t bytes) {
#if FM_CUDA_EMULATION && defined(FM_ASAN)
  fm_emu::enqueue(stream(), [=] {
    unpoison(p, bytes);
    poison_slack(p, used, bytes);
  });
#endif
}

}  // namespace

void* alloc(size_t& bytes) {
  static const bool have_device = (require_device(), true);
  (void)have_device;
  const size_t wanted = bytes;
  bytes = (bytes + kAlign - 1) / kAlign * kAlign;
  if (void* p = cache().take(bytes)) {
    mark_in_use(p, wanted, bytes);
    return p;
  }
  void* p = nullptr;
  cudaError_t status = cudaMalloc(&p, bytes);
  if (status == cudaErrorMemoryAllocation) {  // give the cached blocks back and retry once
    cudaGetLastError();
    cudaStreamSynchronize(stream());
    cache().drain([](void* block) { cudaFree(block); });
    status = cudaMalloc(&p, bytes);
  }
  check(status, ("cudaMalloc of " + std::to_string(bytes) + " bytes").c_str());
  cache().counted_new(bytes);
  mark_in_use(p, wanted, bytes);
  return p;
}

void free(void* p, size_t bytes) {
  if (!p) return;
  mark_in_use(p, bytes, bytes);
  if (!cache().give_back(p, bytes)) cudaFree(p);  // never throws: called from destructors
}

AllocatorStats memory_stats() { return cache().stats(); }

void release_cached_memory() {
  cudaStreamSynchronize(stream());
  cache().drain([](void* p) { cudaFree(p); });
}

}  // namespace fm::cuda
