// tensor/cpu/parallel.h: the one place where CPU kernels meet the worker threads (thread_pool.h).
//
// Determinism rule: parallel_for may split work differently for different thread counts, so its
// body must compute each output element independently of the split. Reductions go through
// parallel_sum, whose chunks depend only on the problem size and are combined in chunk order.
// So a given seed gives bit-identical results with 1 or 16 threads.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "tensor/cpu/thread_pool.h"

namespace fm {

// Calls body(lo, hi) over [0, n) in chunks of at least `grain` elements, in parallel when n is
// large enough to pay for the threads. Chunks are disjoint, so body may write its own range.
// Up to 4 chunks per thread, handed out as threads come free: a core that the machine slows
// down (another process, a busy hypervisor) takes fewer of them instead of holding up the rest.
template <class Body>
void parallel_for(int64_t n, int64_t grain, const Body& body) {
  if (n <= 0) return;
  int64_t chunks = std::min<int64_t>((n + grain - 1) / grain, 4 * int64_t(num_threads()));
  if (chunks <= 1) {
    body(int64_t(0), n);
    return;
  }
  run_tasks(chunks, [&](int64_t c) { body(n * c / chunks, n * (c + 1) / chunks); });
}

// The one grain rule: a chunk of a parallel_for does at least kChunkWork units of work (a
// multiply-add, or an element read and written), below which a parallel region costs more than it
// saves. grain_for(w) is the number of items of w units each that make up one chunk; every
// parallel_for in the CPU backend takes its grain from it.
constexpr int64_t kChunkWork = int64_t(1) << 15;
inline int64_t grain_for(int64_t work_per_item) { return std::max<int64_t>(1, kChunkWork / std::max<int64_t>(1, work_per_item)); }

// Deterministic sum of f(lo, hi) partial results over fixed-size chunks of [0, n).
// The chunk size is a constant, so the order of floating-point additions never changes.
template <class Partial>
double parallel_sum(int64_t n, const Partial& partial) {
  constexpr int64_t kChunk = 8192;
  int64_t chunks = (n + kChunk - 1) / kChunk;
  if (chunks <= 1) return n > 0 ? partial(int64_t(0), n) : 0.0;
  std::vector<double> part(chunks);
  auto one = [&](int64_t c) { part[c] = partial(c * kChunk, std::min(n, (c + 1) * kChunk)); };
  if (chunks > 4)
    run_tasks(chunks, one);
  else
    for (int64_t c = 0; c < chunks; ++c) one(c);
  double s = 0.0;
  for (double p : part) s += p;
  return s;
}

// A grow-only scratch buffer of at least n floats, one per thread, reused across calls (im2col
// columns, per-group temporaries): kernels called every step allocate nothing.
inline float* thread_scratch(int64_t n) {
  thread_local std::vector<float> buf;
  if (int64_t(buf.size()) < n) buf.resize(n);
  return buf.data();
}

}  // namespace fm
