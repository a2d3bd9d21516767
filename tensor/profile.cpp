// tensor/profile.cpp
#include "tensor/profile.h"

#include <algorithm>
#include <cstring>

namespace fm::profile {

namespace {

struct Entry {
  const char* name;
  const char* suffix;
  double ms;
  int64_t calls;
};

bool g_enabled = false;
std::vector<Entry> g_entries;  // few kinds: a linear search is fine
thread_local int t_depth = 0;

}  // namespace

void enable(bool on) { g_enabled = on; }
bool enabled() { return g_enabled; }
void reset() { g_entries.clear(); }

std::vector<Row> rows() {
  std::vector<Row> out;
  for (const Entry& e : g_entries) out.push_back({std::string(e.name) + e.suffix, e.ms, e.calls});
  std::sort(out.begin(), out.end(), [](const Row& a, const Row& b) { return a.ms > b.ms; });
  return out;
}

Scope::Scope(const char* name, const char* suffix) : name_(name), suffix_(suffix) {
  if (!g_enabled) return;
  counted_ = true;
  if (t_depth++ > 0) return;  // inside another scope: the outer one is charged
  active_ = true;
  t0_ = std::chrono::steady_clock::now();
}

Scope::~Scope() {
  if (!counted_) return;
  --t_depth;
  if (!active_) return;
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0_).count();
  for (Entry& e : g_entries)
    if (std::strcmp(e.name, name_) == 0 && std::strcmp(e.suffix, suffix_) == 0) {
      e.ms += ms, ++e.calls;
      return;
    }
  g_entries.push_back({name_, suffix_, ms, 1});
}

}  // namespace fm::profile
