// cuda/emulation/block.cpp: running a grid on the CPU: the blocks one after another, the threads of
// a block as fibers in a fixed order between barriers (see device_code.h), and the checks a GPU
// leaves undefined but this emulation turns into a fault: a barrier that not every thread of the
// block reaches, threads waiting at different barriers, warp functions whose masks disagree.
#include "cuda/emulation/block.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cuda/emulation/fiber.h"

namespace fm_emu {

namespace {

enum class State : uint8_t { Unstarted, Ready, AtBarrier, AtWarp, Done };

struct Thread {
  State state = State::Unstarted;
  std::unique_ptr<Fiber> fiber;  // from its start until it is done
  unsigned mask = 0;             // AtWarp: the lanes it waits for
  Where where;                   // AtBarrier, AtWarp: the call
};

// The block being run on this host thread.
struct Block {
  const LaunchConfig* config = nullptr;
  const std::function<void()>* thread_body = nullptr;
  std::vector<Thread> threads;
  std::vector<uint3> index;     // threadIdx of each thread (worked out once per launch)
  std::vector<uint64_t> slots;  // warp exchanges: one word per thread
  unsigned current = 0;         // the thread that runs now
  unsigned done = 0;            // threads finished
  std::string fault;            // set by a thread that found one; the block then stops
};

thread_local Block* running = nullptr;
thread_local Fiber host;                                       // the scheduler's own context
thread_local std::vector<std::unique_ptr<Fiber>> idle_fibers;  // reused across blocks and launches

std::string site(const Where& w) { return std::string(w.file_name()) + ":" + std::to_string(w.line()); }
bool same_site(const Where& a, const Where& b) {
  return a.line() == b.line() && a.column() == b.column() && std::strcmp(a.file_name(), b.file_name()) == 0;
}

uint3 index_of(unsigned t, const dim3& d) { return {t % d.x, (t / d.x) % d.y, t / (d.x * d.y)}; }
std::string str(uint3 v) {
  char s[48];
  std::snprintf(s, sizeof s, "(%u,%u,%u)", v.x, v.y, v.z);
  return s;
}

// The thread after t (in index order) that can run in this round, or the thread count when the
// round is over.
unsigned next_after(const Block& b, unsigned t) {
  const unsigned n = unsigned(b.threads.size());
  for (unsigned u = t + 1; u < n; ++u)
    if (b.threads[u].state == State::Unstarted || b.threads[u].state == State::Ready) return u;
  return n;
}

void worker();

// Suspends `self` and runs thread u: on its own fiber, on an idle one if it has not started, or,
// when the round is over, back in the scheduler. One jump per hand-over.
void hand_over(Block& b, Fiber& self, unsigned u) {
  if (u == b.threads.size()) return Fiber::jump(self, host);
  Thread& th = b.threads[u];
  if (th.state == State::Unstarted) {
    if (idle_fibers.empty()) idle_fibers.push_back(std::make_unique<Fiber>(&worker));
    th.fiber = std::move(idle_fibers.back());
    idle_fibers.pop_back();
  }
  th.state = State::Ready;
  b.current = u;
  threadIdx = b.index[u];
  Fiber::jump(self, *th.fiber);
}

// Every fiber runs this loop: the body of the thread it was given; then, on the same fiber and
// without a jump, the next thread if that one has not started; else it goes idle and hands over.
void worker() {
  for (;;) {
    Block& b = *running;
    unsigned me = b.current;
    try {
      (*b.thread_body)();
    } catch (const std::exception& e) {
      b.fault = std::string("an exception in device code: ") + e.what();
    } catch (...) {
      b.fault = "an exception in device code";
    }
    b.threads[me].state = State::Done;
    ++b.done;
    Fiber* self = b.threads[me].fiber.get();
    const unsigned next = b.fault.empty() ? next_after(b, me) : unsigned(b.threads.size());
    if (next < b.threads.size() && b.threads[next].state == State::Unstarted) {
      b.threads[next].fiber = std::move(b.threads[me].fiber);
      b.threads[next].state = State::Ready;
      b.current = next;
      threadIdx = b.index[next];
      continue;
    }
    idle_fibers.push_back(std::move(b.threads[me].fiber));
    hand_over(b, *self, next);
  }
}

Block& in_kernel(const char* what, const Where& where) {
  if (!running) {
    std::fprintf(stderr, "fm cuda emulation: %s called outside a kernel (%s)\n", what, site(where).c_str());
    std::abort();
  }
  return *running;
}

// From inside a thread: record the fault and stop; the scheduler drops the block.
[[noreturn]] void thread_fault(Block& b, const std::string& what) {
  b.fault = "thread " + str(b.index[b.current]) + ": " + what;
  Fiber::jump(*b.threads[b.current].fiber, host);
  std::abort();  // never continued
}

// The calling thread waits (at a block or warp barrier) while the others of its round run.
void wait(Block& b, State state, unsigned mask, const Where& where) {
  const unsigned me = b.current;
  Thread& t = b.threads[me];
  t.state = state, t.mask = mask, t.where = where;
  hand_over(b, *t.fiber, next_after(b, me));
}

// After a round every thread is done or waiting. Opens the warp barriers whose lanes have all
// arrived, else the block barrier if every thread is at the same one; a fault otherwise.
void open_barriers(Block& b) {
  const unsigned n = unsigned(b.threads.size());
  auto fault = [&](unsigned t, const std::string& what) {
    b.current = t;
    b.fault = "thread " + str(b.index[t]) + ": " + what;
  };
  bool opened = false;
  for (unsigned t = 0; t < n && b.fault.empty(); ++t) {
    Thread& th = b.threads[t];
    if (th.state != State::AtWarp) continue;
    const unsigned lane = t % 32, base = t - lane, mask = th.mask;
    if (!(mask >> lane & 1u)) return fault(t, "a warp function at " + site(th.where) + " whose mask leaves out the calling lane");
    for (unsigned l = 0; l < 32; ++l) {
      if (!(mask >> l & 1u)) continue;
      const unsigned u = base + l;
      if (u >= n) return fault(t, "the mask of a warp function at " + site(th.where) + " names lane " + std::to_string(l) + ", which this block does not have");
      const Thread& other = b.threads[u];
      if (other.state == State::Done)
        return fault(t, "waits in a warp function at " + site(th.where) + " for lane " + std::to_string(l) + ", which has exited");
      if (other.state == State::AtBarrier)
        return fault(t, "waits in a warp function at " + site(th.where) + " while lane " + std::to_string(l) + " waits at __syncthreads() at " + site(other.where));
      if (other.mask != mask)
        return fault(t, "lanes of one warp wait with different masks at " + site(th.where) + " and " + site(other.where));
    }
    for (unsigned l = 0; l < 32; ++l)
      if (mask >> l & 1u) b.threads[base + l].state = State::Ready;
    opened = true;
  }
  if (opened || !b.fault.empty()) return;
  const Thread* first = nullptr;
  for (unsigned t = 0; t < n; ++t)
    if (b.threads[t].state == State::AtBarrier) { first = &b.threads[t]; break; }
  for (unsigned t = 0; t < n; ++t) {
    const Thread& th = b.threads[t];
    if (th.state == State::Done)
      return fault(t, "exited without reaching __syncthreads() at " + site(first->where) + ", where other threads of its block wait");
    if (!same_site(th.where, first->where))
      return fault(t, "waits at __syncthreads() at " + site(th.where) + " while others wait at " + site(first->where));
  }
  for (Thread& th : b.threads) th.state = State::Ready;
}

// Runs one block, a round at a time; false (with b.fault) when a fault stopped it.
bool run_block(Block& b) {
  for (Thread& th : b.threads) th.state = State::Unstarted;
  b.done = 0;
  while (b.done < b.threads.size()) {
    hand_over(b, host, next_after(b, unsigned(-1)));  // back here when the round is over
    if (b.fault.empty() && b.done < b.threads.size()) open_barriers(b);
    if (!b.fault.empty()) return false;
  }
  return true;
}

// The bounds of the section that holds every __shared__ variable (see cuda_runtime.h); weak, as a
// program may have none.
extern "C" char __start_fm_emu_shared[] __attribute__((weak));
extern "C" char __stop_fm_emu_shared[] __attribute__((weak));

}  // namespace

void run_grid(const LaunchConfig& config, const std::function<void()>& thread_body) {
  const dim3 g = config.grid, d = config.block;
  Block b;
  b.config = &config;
  b.thread_body = &thread_body;
  b.threads.resize(size_t(d.x) * d.y * d.z);
  b.slots.assign(b.threads.size(), 0);
  for (unsigned t = 0; t < b.threads.size(); ++t) b.index.push_back(index_of(t, d));
  if (__start_fm_emu_shared) std::memset(__start_fm_emu_shared, 0xff, size_t(__stop_fm_emu_shared - __start_fm_emu_shared));
  running = &b;
  blockDim = d, gridDim = g;
  for (unsigned z = 0; z < g.z; ++z)
    for (unsigned y = 0; y < g.y; ++y)
      for (unsigned x = 0; x < g.x; ++x) {
        blockIdx = {x, y, z};
        if (run_block(b)) continue;
        running = nullptr;  // the block's suspended fibers are dropped with it (b.threads)
        throw KernelFault{std::string("kernel ") + config.kernel + ", block " + str(blockIdx) + ", " + b.fault};
      }
  running = nullptr;
}

void block_barrier(const Where& where) { wait(in_kernel("__syncthreads()", where), State::AtBarrier, 0, where); }

void warp_barrier(unsigned mask, const Where& where) { wait(in_kernel("__syncwarp()", where), State::AtWarp, mask, where); }

unsigned lane_id() { return in_kernel("a warp function", Where::current()).current % 32; }

uint64_t warp_exchange(unsigned mask, uint64_t mine, unsigned src, const Where& where) {
  Block& b = in_kernel("a warp shuffle", where);
  const unsigned me = b.current, base = me - me % 32;
  b.slots[me] = mine;
  wait(b, State::AtWarp, mask, where);
  if (!(mask >> src & 1u))
    thread_fault(b, "a shuffle at " + site(where) + " reads lane " + std::to_string(src) + ", which is not in its mask");
  const uint64_t word = b.slots[base + src];
  wait(b, State::AtWarp, mask, where);
  return word;
}

}  // namespace fm_emu

unsigned __ballot_sync(unsigned mask, int predicate, const fm_emu::Where& where) {
  using namespace fm_emu;
  Block& b = in_kernel("__ballot_sync()", where);
  const unsigned me = b.current, base = me - me % 32;
  b.slots[me] = predicate != 0;
  wait(b, State::AtWarp, mask, where);
  unsigned bits = 0;
  for (unsigned l = 0; l < 32; ++l)
    if ((mask >> l & 1u) && b.slots[base + l]) bits |= 1u << l;
  wait(b, State::AtWarp, mask, where);
  return bits;
}
