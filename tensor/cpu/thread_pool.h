// tensor/cpu/thread_pool.h: the CPU backend's worker threads, and how they wait.
//
// Every parallel CPU kernel ends in run_tasks: "call task(i) for each i in [0, tasks)". The
// calling thread and the pool's workers take tasks one at a time from a shared counter, so a
// thread the machine slows down (another program on its core) simply takes fewer of them.
//
// Why our own pool and not OpenMP: a thread with nothing to do must neither burn the core that
// the thread holding the last task needs, nor sleep so deeply that waking it costs more than
// the task. OpenMP fixes that choice from environment variables read when the library loads
// (libgomp spins 300,000 times by default), and on a 2-core machine with one other busy program
// a training step then ran 3-28x slower. Here a waiting thread spins for a few microseconds,
// then offers its core with sched_yield for a while, then sleeps on a futex (thread_pool.cpp).
//
// Threads: OMP_NUM_THREADS when set (the variable every threaded numeric program reads), else
// the CPUs this process may run on. set_num_threads changes it (between ops, from one thread).
#pragma once
#include <cstdint>

namespace fm {

int num_threads();            // threads a parallel op uses, the caller's own included (>= 1)
void set_num_threads(int n);  // n >= 1; the workers are started again on the next parallel op
bool in_parallel_task();      // true inside a task: parallel ops nested there run on this thread

// Calls task(ctx, i) once for every i in [0, tasks) on up to num_threads() threads, the caller's
// included, and returns when all are done. Nested inside a task, or with one thread, the calls
// run in order on the calling thread. An exception from a task is rethrown here (the first one;
// the remaining tasks still run).
using TaskFn = void (*)(const void* ctx, int64_t i);
void run_tasks_raw(int64_t tasks, TaskFn task, const void* ctx);

template <class F>
void run_tasks(int64_t tasks, const F& f) {
  run_tasks_raw(tasks, [](const void* ctx, int64_t i) { (*static_cast<const F*>(ctx))(i); }, &f);
}

// Counters for fm bench: parallel jobs run, and the times a waiting thread went to sleep.
struct PoolStats {
  int64_t jobs = 0, sleeps = 0;
};
PoolStats pool_stats();

}  // namespace fm
