// apps/progress.h: a progress bar on stderr for long loops (training, sampling, evaluation).
//
// On a terminal it redraws one line in place, at most 10 times a second:
//   " train  1234/2000  62% | loss 0.4123 | 45.2 it/s | ETA 0:17"
// When stderr is not a terminal (a log file, CI), it prints a plain line at most every 10% of
// the total or every 30 s instead, so logs stay readable. Under mpirun only rank 0 prints.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace fm {

class Progress {
 public:
  Progress(std::string label, int64_t total);  // total <= 0: unknown (no percentage or ETA)
  ~Progress();                                 // ends an unfinished bar's line

  // Reports `done` items out of total; `extra` is shown after the count (e.g. "loss 0.4123").
  void update(int64_t done, const std::string& extra = "");
  // Prints the final line (count, average rate, total time) and a newline. Idempotent.
  void finish(const std::string& extra = "");
  double elapsed() const;  // seconds since construction

 private:
  using Clock = std::chrono::steady_clock;
  double since(Clock::time_point t) const;
  void print(const std::string& body, bool final_line);
  std::string line(int64_t done, const std::string& extra, double rate, const std::string& tail) const;

  std::string label_;
  int64_t total_;
  bool tty_;
  Clock::time_point start_;
  double last_draw_ = -1;    // seconds since start of the last redraw (or plain line)
  double last_sample_ = 0;   // time and count of the last rate sample
  int64_t sample_done_ = 0;
  double rate_ = -1;         // smoothed items per second; < 0 until the first sample
  int64_t done_ = 0;
  int last_decile_ = -1;     // non-TTY: the last 10% step printed
  size_t drawn_width_ = 0;   // TTY: width of the line on screen, to blank a shorter redraw
  bool finished_ = false;
};

}  // namespace fm
