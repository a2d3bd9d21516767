// flow/loss_log.h: loss.csv, the training curve of a run.
//
// One row per `every` steps (and one at the last step) with the window's mean loss and gradient
// norm, the learning rate and the training time so far:
//   step,loss,lr,grad_norm,seconds
// The open window and the time so far are saved with the train state (state()), so after a
// resume the rows continue exactly as in an uninterrupted run, apart from the clock.
#pragma once
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>

#include "flow/trainer.h"

namespace fm {

class LossLog {
 public:
  // saved == nullptr: a fresh file with only the header. Otherwise a resume from step `start`,
  // with `saved` the train state's metadata: the rows after `start` are dropped (a run that died
  // after its last checkpoint may have logged further) and new rows are appended.
  LossLog(const std::string& path, int64_t every, int64_t start, const std::map<std::string, std::string>* saved);
  ~LossLog();
  LossLog(const LossLog&) = delete;
  LossLog& operator=(const LossLog&) = delete;
  void close();

  // After 1-based step `step`: adds it to the window and writes a row every `every` steps and at
  // the last one. `session_seconds` is the training time since this process started training.
  void add(int64_t step, const StepStats& s, bool last, double session_seconds);
  // The mean loss of the last row written; 0 before the first.
  double last_loss() const { return last_loss_; }

  // The open window and the time so far, as train-state metadata ("log.loss", "log.grad_norm",
  // "log.count", "log.seconds").
  std::map<std::string, std::string> state(double session_seconds) const;

 private:
  std::string path_;
  FILE* f_ = nullptr;
  int64_t every_;
  double loss_ = 0.0, norm_ = 0.0, last_loss_ = 0.0, seconds_before_ = 0.0;
  int64_t count_ = 0;
};

// Rewrites the loss.csv at `path` with its header and only the rows of steps <= `step`
// (atomically: a temporary file and a rename). A missing file becomes the bare header.
void keep_loss_rows_until(const std::string& path, int64_t step);

}  // namespace fm
