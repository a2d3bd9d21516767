// tensor/io/crash_point.cpp
#include "tensor/io/crash_point.h"

#include <csignal>
#include <cstdlib>
#include <mutex>
#include <string>

namespace fm {

namespace {

struct CrashPlan {
  std::string name;  // empty: disarmed
  long at = 0;       // the occurrence that crashes
  long seen = 0;     // occurrences so far
  std::mutex mutex;
};

// This process's rank under mpirun (from the launcher's environment), or -1.
long launcher_rank() {
  for (const char* var : {"OMPI_COMM_WORLD_RANK", "PMI_RANK"})
    if (const char* v = std::getenv(var)) return std::atol(v);
  return -1;
}

CrashPlan& plan() {
  static CrashPlan* p = [] {
    auto* c = new CrashPlan;  // never destroyed: a point may be reached during exit
    const char* spec = std::getenv("FM_CRASH_AT");
    const char* rank = std::getenv("FM_CRASH_RANK");
    if (!spec || (rank && std::atol(rank) != launcher_rank())) return c;
    const std::string s = spec;
    const size_t colon = s.rfind(':');
    if (colon == std::string::npos || colon == 0) return c;
    c->at = std::atol(s.c_str() + colon + 1);
    if (c->at >= 1) c->name = s.substr(0, colon);
    return c;
  }();
  return *p;
}

}  // namespace

bool crash_due(std::string_view name) {
  CrashPlan& p = plan();
  if (p.name.empty() || name != p.name) return false;
  std::lock_guard<std::mutex> lock(p.mutex);
  return ++p.seen == p.at;
}

void crash_now() {
  std::raise(SIGKILL);
  std::abort();  // not reached
}

}  // namespace fm
