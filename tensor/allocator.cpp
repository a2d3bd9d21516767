// tensor/allocator.cpp
#include "tensor/allocator.h"

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "cuda/device.h"
#include "tensor/poison.h"

namespace fm {

namespace {

constexpr size_t kAlign = 64;

BlockCache& cache() {
  static BlockCache* c = new BlockCache;  // never destroyed: tensors may be freed during static destruction
  return *c;
}

size_t rounded_bytes(int64_t n) {
  return (static_cast<size_t>(n < 1 ? 1 : n) * sizeof(float) + kAlign - 1) & ~(kAlign - 1);
}

// Host blocks: under AddressSanitizer the bytes past the request stay unaddressable while the
// block is in use (tensor/poison.h). (CUDA blocks: cuda/allocator.cu marks them in stream order.)
Block host_alloc(int64_t floats) {
  size_t bytes = rounded_bytes(floats);
  void* p = cache().take(bytes);
  if (!p) {
    p = std::aligned_alloc(kAlign, bytes);
    if (!p) throw std::runtime_error("out of memory allocating " + std::to_string(bytes) + " bytes");
    cache().counted_new(bytes);
  }
  poison_slack(p, size_t(floats) * sizeof(float), bytes);
  return {static_cast<float*>(p), bytes};
}

void host_free(const Block& block) {
  unpoison(block.data, block.bytes);
  if (!cache().give_back(block.data, block.bytes)) std::free(block.data);
}

}  // namespace

namespace {
struct Budget {
  size_t left;
  const char* what;
};
thread_local Budget* tl_budget = nullptr;

void charge(int64_t floats) {
  if (!tl_budget) return;
  const size_t bytes = size_t(floats < 1 ? 1 : floats) * sizeof(float);
  if (bytes > tl_budget->left)
    throw std::runtime_error(std::string(tl_budget->what) + ": asks for a tensor of " + std::to_string(bytes) + " bytes with only " +
                             std::to_string(tl_budget->left) + " left of its budget");
  tl_budget->left -= bytes;
}
}  // namespace

AllocationBudget::AllocationBudget(size_t bytes, const char* what) {
  if (tl_budget) throw std::logic_error("AllocationBudget: one at a time");
  tl_budget = new Budget{bytes, what};
}

AllocationBudget::~AllocationBudget() {
  delete tl_budget;
  tl_budget = nullptr;
}

Block alloc_block(Device device, int64_t floats) {
  charge(floats);
  if (device == Device::CPU) return host_alloc(floats);
  size_t bytes = size_t(floats < 1 ? 1 : floats) * sizeof(float);  // cuda::alloc rounds it up
  float* p = static_cast<float*>(cuda::alloc(bytes));
  return {p, bytes};
}

void free_block(Device device, const Block& block) {
  if (!block.data) return;
  if (device == Device::CPU) host_free(block);
  else cuda::free(block.data, block.bytes);
}

AllocatorStats allocator_stats() { return cache().stats(); }
void reset_peak_memory() { cache().reset_peak(); }

void release_cached_memory() {
  cache().drain([](void* p) { std::free(p); });
}

}  // namespace fm
