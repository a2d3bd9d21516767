// tensor/profile.h: wall time per kind of work (an op's forward, its backward, the optimizer),
// collected only while enabled, for `fm bench --profile`.
//
//   { FM_PROFILE("conv2d"); ... }      // adds the scope's wall time to the "conv2d" row
//
// Scopes nest; only the outermost one on the calling thread counts, so an op built from other
// ops is charged once, to itself. Disabled (the default), a scope costs one branch.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace fm::profile {

struct Row {
  std::string name;
  double ms = 0.0;
  int64_t calls = 0;
  int64_t jobs = 0;  // the CPU's parallel jobs (tensor/cpu/thread_pool.h): its fork-joins
};

void enable(bool on);
bool enabled();
void reset();
std::vector<Row> rows();  // by time, largest first

// Floating-point operations of the matrix products and convolutions run so far (2 per multiply-
// add, counted as the direct algorithm does them), whether or not profiling is on: fm bench's
// GFLOP/s. Counted by the op list (tensor/ops.cpp, ops_image.cpp) on every device.
void add_flops(double flops);
double flops();

class Scope {
 public:
  // `name` and `suffix` must outlive the program (string literals, an op's static name).
  explicit Scope(const char* name, const char* suffix = "");
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  const char* name_;
  const char* suffix_;
  bool counted_ = false;  // entered while enabled
  bool active_ = false;   // the outermost scope: it records
  int64_t jobs0_ = 0;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace fm::profile

#define FM_PROFILE_CAT2(a, b) a##b
#define FM_PROFILE_CAT(a, b) FM_PROFILE_CAT2(a, b)
#define FM_PROFILE(...) ::fm::profile::Scope FM_PROFILE_CAT(fm_profile_scope_, __LINE__)(__VA_ARGS__)
