// tensor/io/crash_point.h: a test hook that kills the process at a named point, so the tests can
// check what a SIGKILL at the worst moment leaves behind (tests/test_kill.cpp).
//
//   FM_CRASH_AT=NAME:N    the N-th time (1-based) this process reaches the point NAME, it kills
//                         itself with SIGKILL: no handler, no destructor, no flush runs.
//   FM_CRASH_RANK=R       (optional) only the process whose MPI rank is R (Open MPI's
//                         OMPI_COMM_WORLD_RANK, or PMI_RANK) does; the others never crash.
//
// The points: "step" (after a training step, before anything of it is written), a file's base
// name such as "model.safetensors" (AtomicFileWriter: the temporary file half written), and
// "loss.csv" (the row half written and flushed). Unset, a point costs one comparison of a cached
// flag. Not for users: nothing in fm sets it.
#pragma once
#include <string_view>

namespace fm {

// True when this is the armed N-th time the point `name` is reached: the caller leaves its state
// as it wants it found (a torn write) and then calls crash_now().
bool crash_due(std::string_view name);
[[noreturn]] void crash_now();

// crash_due, then crash_now: for the points with nothing to tear.
inline void crash_point(std::string_view name) {
  if (crash_due(name)) crash_now();
}

}  // namespace fm
