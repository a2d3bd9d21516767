// apps/common.h: pieces the subcommands share: solver flags, chunked likelihood evaluation with
// a progress bar, pictures of 2-D samples and one-line JSON results.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "apps/args.h"
#include "nn/module.h"
#include "ode/evaluate.h"

namespace fm {

// Declares --solver, --steps, --rtol, --atol on `args` (defaults: dopri5, 1e-5, as in the paper).
void add_solver_options(Args& args, const std::string& default_solver = "dopri5");
OdeOptions solver_options(const Args& args);

// Declares --device cpu|cuda (default cpu); device_option parses it and fails at once, in one
// line, when the device cannot be used here (built without CUDA, or no GPU).
void add_device_option(Args& args);
Device device_option(const Args& args);
std::string describe_solver(const OdeOptions& ode);  // "dopri5 (rtol 1e-05, atol 1e-05)"


// evaluate_logp (ode/evaluate.h) with a progress bar on stderr named `label`, showing the NLL so far.
SolveRun evaluate_logp_with_bar(const FieldModel& model, const Tensor& x, const FlowSolveOptions& opt, int64_t batch,
                                uint64_t seed, const std::string& label, const ClassCondition& cond = {});

// Model samples beside data samples, each a size x size density picture over [-lim, lim]^2.
void write_2d_comparison_png(const std::string& path, const Tensor& model_xy, const Tensor& data_xy, int size = 384);

// A command's results, in order, and as {"k": v, ...} on one line (--json).
using ResultFields = std::vector<std::pair<std::string, Json>>;
std::string json_line(const ResultFields& fields);

}  // namespace fm
