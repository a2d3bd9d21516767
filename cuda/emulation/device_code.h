// cuda/emulation/device_code.h: what kernel code sees on the emulated GPU (included by the emulated
// cuda_runtime.h): the built-in variables, __syncthreads, the warp functions, atomics, and
// FM_EMU_LAUNCH, the launch that cuda/common.cuh's FM_LAUNCH becomes without nvcc.
//
// A launch runs every block of its grid, one block at a time. The threads of a block are fibers
// (cuda/emulation/block.cpp) that run in a fixed order, thread 0 first, each until it finishes or
// waits at a barrier; when every thread waits, the barrier opens and the next round starts. So a
// missing __syncthreads() or a read of another thread's unwritten value gives a wrong result every
// time, never by luck. Warp functions are barriers among the lanes of their mask that also trade
// one value per lane.
#pragma once
#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <source_location>
#include <tuple>
#include <type_traits>
#include <utility>

// Set by the emulation before it runs or resumes each thread.
inline thread_local uint3 threadIdx, blockIdx;
inline thread_local dim3 blockDim, gridDim;
constexpr int warpSize = 32;

namespace fm_emu {

using Where = std::source_location;

// The barriers, called from inside a kernel's thread (cuda/emulation/block.cpp).
void block_barrier(const Where& where);
void warp_barrier(unsigned mask, const Where& where);
// Writes `mine` for the calling lane, waits for the lanes of `mask`, returns the word that lane
// `src` (of this warp) wrote, and waits again (so the next exchange cannot overwrite it early).
uint64_t warp_exchange(unsigned mask, uint64_t mine, unsigned src, const Where& where);
// The calling thread's lane (its linear index in the block, modulo 32).
unsigned lane_id();

template <class T>
T shuffle_from(unsigned mask, T var, unsigned src, const Where& where) {
  static_assert(sizeof(T) <= sizeof(uint64_t) && std::is_trivially_copyable_v<T>, "shuffles carry up to 8 bytes");
  uint64_t word = 0;
  std::memcpy(&word, &var, sizeof var);
  word = warp_exchange(mask, word, src, where);
  std::memcpy(&var, &word, sizeof var);
  return var;
}

}  // namespace fm_emu

// ---- barriers and warp functions (CUDA's semantics; width: a power of two up to 32) ----------
inline void __syncthreads(const fm_emu::Where& where = fm_emu::Where::current()) { fm_emu::block_barrier(where); }
inline void __syncwarp(unsigned mask = 0xffffffffu, const fm_emu::Where& where = fm_emu::Where::current()) {
  fm_emu::warp_barrier(mask, where);
}

// The value of lane src (mod width) of this lane's group of width lanes.
template <class T>
T __shfl_sync(unsigned mask, T var, int src, int width = warpSize, const fm_emu::Where& where = fm_emu::Where::current()) {
  const unsigned lane = fm_emu::lane_id(), base = lane & ~unsigned(width - 1);
  return fm_emu::shuffle_from(mask, var, base + unsigned(src) % unsigned(width), where);
}
// The value of lane - delta; a lane with none in its group keeps its own.
template <class T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                 const fm_emu::Where& where = fm_emu::Where::current()) {
  const unsigned lane = fm_emu::lane_id(), base = lane & ~unsigned(width - 1);
  return fm_emu::shuffle_from(mask, var, lane >= base + delta ? lane - delta : lane, where);
}
// The value of lane + delta; a lane with none in its group keeps its own.
template <class T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                   const fm_emu::Where& where = fm_emu::Where::current()) {
  const unsigned lane = fm_emu::lane_id(), base = lane & ~unsigned(width - 1);
  return fm_emu::shuffle_from(mask, var, lane + delta < base + unsigned(width) ? lane + delta : lane, where);
}
// The value of lane ^ lane_mask, if that lane is in this lane's group.
template <class T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize,
                  const fm_emu::Where& where = fm_emu::Where::current()) {
  const unsigned lane = fm_emu::lane_id(), base = lane & ~unsigned(width - 1), src = lane ^ unsigned(lane_mask);
  return fm_emu::shuffle_from(mask, var, src >= base && src < base + unsigned(width) ? src : lane, where);
}
// Bit l set when lane l of the mask passed a true predicate.
unsigned __ballot_sync(unsigned mask, int predicate, const fm_emu::Where& where = fm_emu::Where::current());
inline int __any_sync(unsigned mask, int predicate, const fm_emu::Where& where = fm_emu::Where::current()) {
  return __ballot_sync(mask, predicate, where) != 0;
}
inline int __all_sync(unsigned mask, int predicate, const fm_emu::Where& where = fm_emu::Where::current()) {
  return __ballot_sync(mask, predicate, where) == mask;
}

// ---- atomics: read-modify-write of one word, returning the old value ---------------------------
template <class T>
T atomicAdd(T* address, T value) { return std::atomic_ref<T>(*address).fetch_add(value); }
template <class T>
T atomicSub(T* address, T value) { return std::atomic_ref<T>(*address).fetch_sub(value); }
template <class T>
T atomicExch(T* address, T value) { return std::atomic_ref<T>(*address).exchange(value); }
template <class T>
T atomicCAS(T* address, T compare, T value) {
  std::atomic_ref<T>(*address).compare_exchange_strong(compare, value);
  return compare;
}
template <class T>
T atomicMax(T* address, T value) {
  std::atomic_ref<T> a(*address);
  T old = a.load();
  while (old < value && !a.compare_exchange_weak(old, value)) {}
  return old;
}
template <class T>
T atomicMin(T* address, T value) {
  std::atomic_ref<T> a(*address);
  T old = a.load();
  while (value < old && !a.compare_exchange_weak(old, value)) {}
  return old;
}

// ---- the few intrinsics with no host spelling ---------------------------------------------------
inline int __float_as_int(float x) { int i; std::memcpy(&i, &x, sizeof i); return i; }
inline float __int_as_float(int i) { float x; std::memcpy(&x, &i, sizeof x); return x; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
template <class T>
T __ldg(const T* p) { return *p; }

// ---- the launch ---------------------------------------------------------------------------------
namespace fm_emu {

struct LaunchConfig {
  dim3 grid, block;
  size_t shared_bytes;  // dynamic shared memory
  cudaStream_t stream;
  const char* kernel;   // its name, for messages
};

// Checks the configuration as a GPU does (an error becomes cudaGetLastError's, nothing runs) and
// queues the grid on the stream: `thread` is called once per thread of every block.
void launch(const LaunchConfig& config, std::function<void()> thread);

template <class Kernel>
struct Launch {
  LaunchConfig config;
  Kernel kernel;
  // The arguments are copied now, as a GPU copies them at the launch; the kernel runs later.
  template <class... Args>
  void operator()(Args&&... args) const {
    launch(config, [k = kernel, a = std::make_tuple(std::decay_t<Args>(std::forward<Args>(args))...)] { std::apply(k, a); });
  }
};
template <class Kernel>
Launch<Kernel> make_launch(const LaunchConfig& config, Kernel kernel) {
  return {config, kernel};
}

}  // namespace fm_emu

// kernel<<<grid, block, shared_bytes, stream>>>(args...) is written
// FM_EMU_LAUNCH(kernel, grid, block, shared_bytes, stream)(args...).
#define FM_EMU_LAUNCH(kernel, grid, block, shared_bytes, stream)                                                \
  ::fm_emu::make_launch(::fm_emu::LaunchConfig{dim3(grid), dim3(block), size_t(shared_bytes), (stream), #kernel}, \
                        [](auto... fm_emu_args) { kernel(fm_emu_args...); })
