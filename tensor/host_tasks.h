// tensor/host_tasks.h: the CPU's worker threads for host algorithms above the tensor layer, the
// ones that work on arrays of their own rather than on tensors (the OT coupling's independent
// assignment problems, flow/coupling.cpp). Tensor work goes through the op list instead.
#pragma once
#include <cstdint>

#include "tensor/cpu/thread_pool.h"

namespace fm {

// Calls f(i) once for every i in [0, tasks) on the CPU backend's threads (the caller's included)
// and returns when all are done; the first exception thrown by a task is rethrown here. Tasks must
// not depend on which thread runs them, so results stay independent of the thread count.
template <class F>
void host_tasks(int64_t tasks, const F& f) {
  run_tasks(tasks, f);
}

}  // namespace fm
