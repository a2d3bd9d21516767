// apps/train_output.h: what `fm train` prints and draws while its run goes: the run's header, the
// progress bars, loss.svg after each checkpoint (apps/plots.h), samples.png from the samples the
// run draws (its grids, or 2-D model samples beside data), and the final NLL's lines.
#pragma once
#include <string>

#include "apps/common.h"
#include "flow/run.h"

namespace fm {

// The observers (flow/run.h) of a run on images or on points.
RunHooks train_observers(bool images);

// The final NLL of eval_n samples of `data_spec` (dim-dimensional) next to the true entropy, on
// stderr, and into `result`.
void report_nll(const PointsNll& nll, const std::string& data_spec, int64_t eval_n, int64_t dim, ResultFields& result);
// The few-step sample quality of a run on points (flow/evaluation.h), printed and added to `result`.
void report_quality(const PointsQuality& q, ResultFields& result);

}  // namespace fm
