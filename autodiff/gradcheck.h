// autodiff/gradcheck.h: checks backward rules against central finite differences.
//
// The function under test f(x_1, ..., x_k) may return any shape; it is reduced to the scalar
// L = sum_j w_j f_j with fixed random weights w, so every output element is exercised. For each
// checked input element, the numerical derivative (L(x + eps) - L(x - eps)) / (2 eps) is
// compared with the analytic dL/dx from backward().
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "autodiff/var.h"

namespace fm {

struct GradCheckOptions {
  double eps = 1e-2;         // float32 forward passes: 1e-2 balances truncation and round-off
  double atol = 2e-3;
  double rtol = 2e-2;
  int64_t max_checks = 48;   // elements checked per input (spread evenly), to bound the cost
};

struct GradCheckResult {
  bool ok = true;
  double max_abs_error = 0.0;
  std::string report;        // the first mismatches, one per line
};

using GradFn = std::function<Var(const std::vector<Var>&)>;

GradCheckResult check_gradients(const GradFn& f, const std::vector<Tensor>& inputs,
                                const GradCheckOptions& opt = {});

// The same for a function of existing leaves (a module's parameters and its input): `f` reads
// them itself; their values are perturbed in place and restored, their gradients overwritten.
GradCheckResult check_gradients(const std::function<Var()>& f, const std::vector<Var>& leaves,
                                const GradCheckOptions& opt = {});

}  // namespace fm
