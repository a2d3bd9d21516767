// tests/test_thread_pool.cpp: the CPU backend's worker threads (tensor/cpu/thread_pool.h).
// Every task runs exactly once, whatever the thread count; nested, concurrent and failing jobs;
// a forked child; and idle workers that go to sleep instead of burning the CPU.
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tensor/cpu/parallel.h"
#include "tensor/cpu/thread_pool.h"

using namespace fm;

namespace {

// Sets the thread count for one test case and restores it after.
struct Threads {
  int saved = num_threads();
  explicit Threads(int n) { set_num_threads(n); }
  ~Threads() { set_num_threads(saved); }
};

// How many times run_tasks called each index.
std::vector<int> run_counts(int64_t tasks) {
  std::vector<std::atomic<int>> seen(size_t(std::max<int64_t>(tasks, 1)));
  run_tasks(tasks, [&](int64_t i) { seen[size_t(i)].fetch_add(1); });
  std::vector<int> out;
  for (int64_t i = 0; i < tasks; ++i) out.push_back(seen[size_t(i)].load());
  return out;
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

}  // namespace

TEST_CASE("every task runs exactly once, for any thread count and any number of tasks") {
  for (int threads : {1, 2, 3, 8}) {
    Threads t(threads);
    // 70,000 is more than one job holds (65,535): the run is split into two jobs.
    for (int64_t tasks : {0, 1, 2, 7, 1000, 70000}) {
      const std::vector<int> counts = run_counts(tasks);
      int64_t wrong = 0;
      for (int c : counts) wrong += c != 1;
      INFO("threads " << threads << ", tasks " << tasks);
      CHECK(wrong == 0);
      CHECK(int64_t(counts.size()) == tasks);
    }
  }
}

TEST_CASE("the workers take part, and a nested parallel op runs on the thread that calls it") {
  Threads t(4);
  std::mutex mu;
  std::set<std::thread::id> ids;
  bool nested_elsewhere = false, nested_flag = true;
  run_tasks(200, [&](int64_t) {
    const std::thread::id me = std::this_thread::get_id();
    std::set<std::thread::id> inner;
    run_tasks(3, [&](int64_t) {
      std::lock_guard<std::mutex> lock(mu);
      inner.insert(std::this_thread::get_id());
    });
    std::lock_guard<std::mutex> lock(mu);
    ids.insert(me);
    nested_elsewhere |= inner.size() != 1 || *inner.begin() != me;
    nested_flag &= in_parallel_task();
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  });
  CHECK(ids.size() >= 2);  // 200 tasks of 0.5 ms: the workers wake long before the caller is done
  CHECK_FALSE(nested_elsewhere);
  CHECK(nested_flag);
  CHECK_FALSE(in_parallel_task());
}

TEST_CASE("a task's exception reaches the caller, the other tasks still run, and the pool goes on") {
  Threads t(3);
  std::atomic<int> ran{0};
  CHECK_THROWS_WITH_AS(run_tasks(50, [&](int64_t i) {
                         ran.fetch_add(1);
                         if (i == 17) throw std::runtime_error("task 17 failed");
                       }),
                       "task 17 failed", std::runtime_error);
  CHECK(ran.load() == 50);
  const std::vector<int> counts = run_counts(500);
  CHECK(std::count(counts.begin(), counts.end(), 1) == 500);
}

TEST_CASE("two host threads may start parallel ops at once") {
  Threads t(2);
  std::atomic<int64_t> wrong{0};
  auto worker = [&] {
    for (int rep = 0; rep < 200; ++rep) {
      const std::vector<int> counts = run_counts(64);
      wrong += 64 - std::count(counts.begin(), counts.end(), 1);
    }
  };
  std::thread a(worker), b(worker);
  a.join();
  b.join();
  CHECK(wrong.load() == 0);
}

TEST_CASE("changing the thread count between ops, and parallel_for's chunks") {
  for (int threads : {2, 1, 5, 2}) {
    Threads t(threads);
    std::vector<std::atomic<int>> cover(10007);
    parallel_for(10007, 100, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) cover[size_t(i)].fetch_add(1);
    });
    int64_t wrong = 0;
    for (auto& c : cover) wrong += c.load() != 1;
    CHECK(wrong == 0);
  }
}

TEST_CASE("a forked child runs parallel ops with workers of its own") {
  Threads t(3);
  run_counts(100);  // the parent's workers exist before the fork
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const std::vector<int> counts = run_counts(1000);
    _exit(std::count(counts.begin(), counts.end(), 1) == 1000 ? 0 : 1);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("idle workers go to sleep instead of spinning") {
  Threads t(4);
  run_counts(100);
  const int64_t sleeps_before = pool_stats().sleeps;
  // Spinning ends within a fraction of a millisecond (thread_pool.cpp): after 300 ms without a
  // job every worker is asleep, and a further 300 ms costs the process almost no CPU time.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(pool_stats().sleeps >= sleeps_before + 3);
  const double cpu0 = cpu_seconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(cpu_seconds() - cpu0 < 0.05);  // three spinning workers would use 0.9 s
  const std::vector<int> counts = run_counts(100);  // and they wake for the next job
  CHECK(std::count(counts.begin(), counts.end(), 1) == 100);
}
