// flow/interrupt.h: SIGINT and SIGTERM during a training run.
//
// The first signal asks the run to stop: train_run finishes the step it is in, writes a checkpoint
// (model and train state, each through a temporary file and a rename) and throws RunInterrupted,
// so `fm train --resume DIR` continues as if nothing had happened. A second SIGINT ends the process
// at once (exit 130): whatever it interrupts, the files under their final names are those of the
// last complete checkpoint. Under mpirun every rank stops at the same step: the ranks agree on the
// request through one small all-reduce per step.
#pragma once
#include <stdexcept>
#include <string>

namespace fm {

// Installs the handlers for its lifetime and restores the previous ones after (one at a time).
class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
};

// The signal that asked for a stop on this process (SIGINT or SIGTERM), or 0.
int interrupt_requested();

// Thrown by train_run after the checkpoint of an interrupted run is written.
struct RunInterrupted : std::runtime_error {
  RunInterrupted(int signal, long long step, const std::string& what) : std::runtime_error(what), signal(signal), step(step) {}
  int signal;
  long long step;  // the steps done and saved
};

}  // namespace fm
