// tensor/cpu/thread_pool.cpp: the worker threads behind run_tasks, and the waiting policy.
//
// One job at a time. A job is published as one 64-bit word, claim = job id (32 bits) | tasks
// (16) | next (16); a thread takes task `next` by compare-and-swap of next -> next + 1, so the
// first thread there gets it and a late thread finds nothing left. After a successful claim the
// job's function and context are safe to read: the caller does not publish the next job until
// every claimed task has counted itself in `done`. The job id makes a word from an earlier job
// never compare equal to the current one.
//
// Waiting, the part that decides how fm behaves on a busy machine. A thread with nothing to do
//   1. spins on the pause instruction for kSpinPause: the next job (or the last task) is
//      usually microseconds away, and a sleeping thread takes tens of microseconds to wake;
//   2. then calls sched_yield for up to kSpinYield: on a core it has to itself this returns at
//      once and the thread keeps watching; on a core shared with another program it hands the
//      core over instead of holding it;
//   3. then sleeps on a futex (std::atomic::wait) until the caller publishes a job or the last
//      task is done. A sleeping caller also frees its core, so the scheduler can move the
//      thread that holds the last task there.
#include "tensor/cpu/thread_pool.h"

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace fm {
namespace {

constexpr int64_t kMaxTasks = (int64_t(1) << 16) - 1;  // per job; longer runs are split into jobs
constexpr uint64_t kField = 0xffff;

// The waiting policy's phases (top of the file), in nanoseconds. Measured on the 2-core machine
// with fm bench --busy 0/1/2 (pause/yield 20/200, 5/1000, 2/2000 and 50/0 microseconds): the
// busy rows were within their noise for all of them, and a short pause with a long yield phase
// was the fastest alone.
constexpr int64_t kSpinPause = 2'000;
constexpr int64_t kSpinYield = 2'000'000;

inline uint64_t next_of(uint64_t w) { return w & kField; }
inline uint64_t tasks_of(uint64_t w) { return (w >> 16) & kField; }

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Phases 1 and 2 of the waiting policy: true when ready() came true, false when it is time to sleep.
template <class Ready>
bool spin_until(const Ready& ready) {
  const int64_t t0 = now_ns();
  for (int64_t t = t0;;) {
    for (int i = 0; i < 32; ++i) {
      if (ready()) return true;
      cpu_relax();
    }
    t = now_ns();
    if (t - t0 >= kSpinPause + kSpinYield) return false;
    if (t - t0 >= kSpinPause) sched_yield();
  }
}

int default_threads() {
  if (const char* v = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(v);  // the first value of a list such as "4,2"
    if (n >= 1) return n;
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

struct Pool {
  std::mutex owner;                  // the caller of the job in flight
  std::atomic<uint64_t> claim{0};    // job id | tasks | next (see the top of the file)
  TaskFn fn = nullptr;               // the job: task fn(ctx, base + i)
  const void* ctx = nullptr;
  int64_t base = 0;
  std::atomic<uint32_t> done{0};     // tasks of this job finished
  std::atomic<bool> caller_asleep{false};
  std::atomic<uint32_t> wake{0};     // bumped at every job; sleeping workers wait on it
  std::atomic<int> sleepers{0};
  std::atomic<uint32_t> epoch{0};    // workers of an older epoch exit
  uint32_t job_id = 0;
  int threads = 0;                   // the target, caller included (0: not read yet)
  int started = 0;                   // workers of the current epoch
  std::mutex error_mu;
  std::exception_ptr error;
  std::atomic<int64_t> jobs{0}, sleeps{0};
};

// Never destroyed: detached workers may still look at it while the process exits.
Pool& pool() {
  static Pool* p = new Pool;
  return *p;
}

thread_local bool tl_in_task = false;

bool has_work(const Pool& p) {
  const uint64_t w = p.claim.load(std::memory_order_seq_cst);
  return next_of(w) < tasks_of(w);
}

// Claims and runs tasks of the current job until none is left.
void work(Pool& p) {
  for (uint64_t w = p.claim.load(std::memory_order_acquire);;) {
    const uint64_t next = next_of(w), tasks = tasks_of(w);
    if (next >= tasks) return;
    if (!p.claim.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    try {
      p.fn(p.ctx, p.base + int64_t(next));
    } catch (...) {
      std::lock_guard<std::mutex> lock(p.error_mu);
      if (!p.error) p.error = std::current_exception();
    }
    if (p.done.fetch_add(1, std::memory_order_seq_cst) + 1 == tasks && p.caller_asleep.load(std::memory_order_seq_cst))
      p.done.notify_one();
    w = p.claim.load(std::memory_order_acquire);
  }
}

void worker_main(uint32_t epoch) {
  Pool& p = pool();
  tl_in_task = true;  // a kernel's nested parallel op runs on this worker alone
  auto retired = [&] { return p.epoch.load(std::memory_order_acquire) != epoch; };
  while (!retired()) {
    if (has_work(p) || spin_until([&] { return has_work(p) || retired(); })) {
      work(p);
      continue;
    }
    const uint32_t seen = p.wake.load(std::memory_order_seq_cst);
    p.sleepers.fetch_add(1, std::memory_order_seq_cst);
    if (!has_work(p) && !retired()) {
      p.sleeps.fetch_add(1, std::memory_order_relaxed);
      p.wake.wait(seen, std::memory_order_seq_cst);
    }
    p.sleepers.fetch_sub(1, std::memory_order_seq_cst);
  }
}

void wake_workers(Pool& p) {
  p.wake.fetch_add(1, std::memory_order_seq_cst);
  if (p.sleepers.load(std::memory_order_seq_cst) > 0) p.wake.notify_all();
}

// Starts the workers of a new epoch when the thread count changed (or after a fork).
void ensure_workers(Pool& p, int threads) {
  if (p.started == threads - 1) return;
  const uint32_t epoch = p.epoch.fetch_add(1, std::memory_order_acq_rel) + 1;
  wake_workers(p);  // the old ones wake, see the new epoch and exit
  for (int i = 0; i < threads - 1; ++i) std::thread(worker_main, epoch).detach();
  p.started = threads - 1;
}

void run_job(Pool& p, TaskFn fn, const void* ctx, int64_t base, int64_t n) {
  p.fn = fn, p.ctx = ctx, p.base = base;
  p.done.store(0, std::memory_order_relaxed);
  ++p.job_id;
  p.claim.store(uint64_t(p.job_id) << 32 | uint64_t(n) << 16, std::memory_order_seq_cst);
  p.jobs.fetch_add(1, std::memory_order_relaxed);
  wake_workers(p);
  tl_in_task = true;
  work(p);
  tl_in_task = false;
  const uint32_t all = uint32_t(n);
  if (p.done.load(std::memory_order_acquire) == all || spin_until([&] { return p.done.load(std::memory_order_acquire) == all; }))
    return;
  p.caller_asleep.store(true, std::memory_order_seq_cst);
  for (uint32_t d; (d = p.done.load(std::memory_order_seq_cst)) != all;) {
    p.sleeps.fetch_add(1, std::memory_order_relaxed);
    p.done.wait(d, std::memory_order_seq_cst);
  }
  p.caller_asleep.store(false, std::memory_order_relaxed);
}

// A forked child has no workers: it starts its own at its first parallel op.
void after_fork_in_child() {
  Pool& p = pool();
  p.started = 0;
  p.sleepers.store(0);
  p.epoch.fetch_add(1);
}
const int kAtFork = pthread_atfork(nullptr, nullptr, after_fork_in_child);

}  // namespace

int num_threads() {
  Pool& p = pool();
  if (p.threads == 0) p.threads = default_threads();
  return p.threads;
}

void set_num_threads(int n) { pool().threads = std::max(1, n); }

bool in_parallel_task() { return tl_in_task; }

void run_tasks_raw(int64_t tasks, TaskFn fn, const void* ctx) {
  (void)kAtFork;
  if (tasks <= 0) return;
  Pool& p = pool();
  std::unique_lock<std::mutex> lock(p.owner, std::defer_lock);
  // One task, one thread, a nested call, or another host thread's job in flight: run here.
  if (tasks == 1 || tl_in_task || num_threads() == 1 || !lock.try_lock()) {
    for (int64_t i = 0; i < tasks; ++i) fn(ctx, i);
    return;
  }
  ensure_workers(p, p.threads);
  p.error = nullptr;
  for (int64_t base = 0; base < tasks; base += kMaxTasks) run_job(p, fn, ctx, base, std::min(kMaxTasks, tasks - base));
  if (p.error) std::rethrow_exception(std::exchange(p.error, nullptr));
}

PoolStats pool_stats() { return {pool().jobs.load(), pool().sleeps.load()}; }

}  // namespace fm
