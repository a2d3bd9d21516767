// tensor/profile.cpp
#include "tensor/profile.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "tensor/cpu/thread_pool.h"

namespace fm::profile {

namespace {

struct Entry {
  const char* name;
  const char* suffix;
  double ms;
  int64_t calls, jobs;
};

bool g_enabled = false;
std::atomic<double> g_flops{0.0};
std::vector<Entry> g_entries;  // few kinds: a linear search is fine
thread_local int t_depth = 0;

}  // namespace

void enable(bool on) { g_enabled = on; }
void add_flops(double flops) { g_flops.fetch_add(flops, std::memory_order_relaxed); }
double flops() { return g_flops.load(std::memory_order_relaxed); }
bool enabled() { return g_enabled; }
void reset() { g_entries.clear(); }

std::vector<Row> rows() {
  std::vector<Row> out;
  for (const Entry& e : g_entries) out.push_back({std::string(e.name) + e.suffix, e.ms, e.calls, e.jobs});
  std::sort(out.begin(), out.end(), [](const Row& a, const Row& b) { return a.ms > b.ms; });
  return out;
}

Scope::Scope(const char* name, const char* suffix) : name_(name), suffix_(suffix) {
  if (!g_enabled) return;
  counted_ = true;
  if (t_depth++ > 0) return;  // inside another scope: the outer one is charged
  active_ = true;
  jobs0_ = pool_stats().jobs;
  t0_ = std::chrono::steady_clock::now();
}

Scope::~Scope() {
  if (!counted_) return;
  --t_depth;
  if (!active_) return;
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0_).count();
  const int64_t jobs = pool_stats().jobs - jobs0_;
  for (Entry& e : g_entries)
    if (std::strcmp(e.name, name_) == 0 && std::strcmp(e.suffix, suffix_) == 0) {
      e.ms += ms, ++e.calls, e.jobs += jobs;
      return;
    }
  g_entries.push_back({name_, suffix_, ms, 1, jobs});
}

}  // namespace fm::profile
