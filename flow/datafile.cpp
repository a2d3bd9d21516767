// flow/datafile.cpp: .npy / .csv training-data loader (formats described in datafile.h).
#include "flow/datafile.h"

#include <cctype>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <string_view>
#include <vector>

#include "tensor/io/npy.h"

namespace fm {

static std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

static std::vector<std::string_view> split_cells(std::string_view line) {
  std::vector<std::string_view> cells;
  for (size_t start = 0;;) {
    size_t comma = line.find(',', start);
    cells.push_back(trim(line.substr(start, comma - start)));
    if (comma == std::string_view::npos) return cells;
    start = comma + 1;
  }
}

// Parses a whole cell as a number (from_chars: exact and locale-independent; it also reads
// "nan" and "inf", which the caller then rejects by name). A leading '+' is allowed.
static bool parse_number(std::string_view cell, double* out) {
  if (cell.size() > 1 && cell[0] == '+' && cell[1] != '-' && cell[1] != '+') cell.remove_prefix(1);
  auto [end, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), *out);
  if (ec == std::errc::result_out_of_range && end == cell.data() + cell.size()) {
    *out = HUGE_VAL;  // e.g. 1e400: a number, but too large; reported as out of range below
    return true;
  }
  return !cell.empty() && ec == std::errc() && end == cell.data() + cell.size();
}

static bool has_numeric_cell(const std::vector<std::string_view>& cells) {
  double x;
  for (std::string_view c : cells)
    if (parse_number(c, &x)) return true;
  return false;
}

Tensor load_csv(const std::string& path) {
  std::string text = InputFile(path).read_all();
  auto fail_at = [&](int64_t line, const std::string& what) {
    throw_file_error(path, "line " + std::to_string(line) + ": " + what);
  };
  std::vector<float> values;
  int64_t rows = 0, cols = -1, first_row_line = 0, header_cols = -1, line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = std::min(text.find('\n', pos), text.size());
    std::string_view line = trim(std::string_view(text).substr(pos, nl - pos));  // also drops '\r'
    pos = nl + 1;
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string_view> cells = split_cells(line);
    bool first_content = rows == 0 && header_cols < 0;
    if (first_content && !has_numeric_cell(cells)) {
      header_cols = int64_t(cells.size());
      continue;
    }
    if (cols < 0) {
      cols = int64_t(cells.size());
      first_row_line = line_no;
    } else if (int64_t(cells.size()) != cols) {
      fail_at(line_no, "has " + std::to_string(cells.size()) + " columns, expected " + std::to_string(cols) +
                           " (as on line " + std::to_string(first_row_line) + ")");
    }
    for (size_t c = 0; c < cells.size(); ++c) {
      double x = 0;
      std::string where = "column " + std::to_string(c + 1) + ": '" + std::string(cells[c]) + "'";
      if (!parse_number(cells[c], &x)) fail_at(line_no, where + " is not a number");
      if (std::isnan(x) || std::isinf(x)) fail_at(line_no, where + " is not finite (NaN/Inf are not allowed)");
      if (std::fabs(x) > FLT_MAX) fail_at(line_no, where + " is out of float32 range");
      values.push_back(static_cast<float>(x));
    }
    ++rows;
  }
  if (rows == 0) throw_file_error(path, "no data rows");
  if (header_cols >= 0 && header_cols != cols)
    throw_file_error(path, "the header has " + std::to_string(header_cols) + " columns but the rows have " +
                               std::to_string(cols));
  return Tensor::from(values, {rows, cols});
}

static Tensor load_npy_points(const std::string& path) {
  Tensor x = load_npy(path);
  if (x.ndim() != 2 || x.dim(0) < 1 || x.dim(1) < 1)
    throw_file_error(path, "expected a 2-D array N×D, found shape " + npy_shape_str(x.shape()));
  const float* p = x.data();
  for (int64_t i = 0, n = x.numel(); i < n; ++i) {
    if (std::isfinite(p[i])) continue;
    throw_file_error(path, "value x[" + std::to_string(i / x.dim(1)) + ", " + std::to_string(i % x.dim(1)) +
                               "] (flat index " + std::to_string(i) + ") is " +
                               (std::isnan(p[i]) ? "NaN" : "infinite (or beyond float32 range)"));
  }
  return x;
}

Tensor load_data_file(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == ".npy") return load_npy_points(path);
  if (ext == ".csv") return load_csv(path);
  throw_file_error(path, "unsupported data file extension '" + ext + "' (supported: .npy, .csv)");
}

}  // namespace fm
