// apps/plots.h: the charts `fm` draws as SVG (apps/svg.h): the training curve of a run
// (loss.svg, from loss.csv) and the histogram of per-sample NLLs of `fm nll --hist`.
//
// loss.svg: the loss of each loss.csv row on a log axis (left) and the learning rate on a linear
// axis (right) against the step. It is drawn from the file, not from memory, so a resumed run's
// plot covers the whole run. Values that cannot be drawn are skipped, each curve on its own:
// NaN/Inf fields, unparsable lines, and losses <= 0 (which have no place on a log axis; the
// flow-matching loss is a mean square, so these only come from a damaged file). The plot says
// how many rows it skipped.
#pragma once
#include <string>
#include <vector>

#include "apps/svg.h"

namespace fm {

struct LossRow {
  double step = 0.0, loss = 0.0, lr = 0.0;  // NaN where the field is missing or does not parse
};

// The rows of the loss.csv at `path`, its columns found by the header's names (step, loss, lr).
// A missing file gives no rows.
std::vector<LossRow> read_loss_csv(const std::string& path);

// The chart of `rows`; the loss curve is the polyline with id "loss", the learning rate "lr".
Svg loss_plot(const std::vector<LossRow>& rows, const std::string& title);

// Reads `csv_path` and writes its chart to `svg_path` (atomically).
void write_loss_svg(const std::string& csv_path, const std::string& svg_path, const std::string& title);

// A histogram of `values` (bars of 1-2-5 widths, NaN/Inf skipped and counted in a note) with the
// mean marked by a dashed line and labelled; x_label names the unit, e.g. "NLL (nats)".
Svg histogram_plot(const std::vector<double>& values, const std::string& title, const std::string& x_label);

}  // namespace fm
