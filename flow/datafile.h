// flow/datafile.h: loading a training set of N points in D dimensions from disk.
//
// Two formats, chosen by extension (case-insensitive):
//   .npy  a 2-D float32 or float64 array of shape (N, D), C order (see tensor/io/npy.h).
//   .csv  one point per line, D numbers separated by commas, e.g.
//           # two moons, 2-D          <- '#' lines are comments, blank lines are skipped
//           x, y                      <- optional header line, only as the first content line,
//           0.5, -1.25                   recognised by having no numeric cell
//           1e-3, 2
//         Cells may be surrounded by whitespace; every row must have the same number of columns.
// Both reject NaN and Inf, naming where the first one is: a non-finite training point would
// silently turn every loss after it into NaN.
#pragma once
#include <string>

#include "tensor/tensor.h"

namespace fm {

// An N×D float32 tensor with N >= 1, D >= 1. Throws std::runtime_error "<path>: <problem>".
Tensor load_data_file(const std::string& path);

// The .csv reader on its own (load_data_file dispatches here for .csv).
Tensor load_csv(const std::string& path);

}  // namespace fm
