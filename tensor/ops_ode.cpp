// tensor/ops_ode.cpp: the op list's ODE-solver and likelihood ops (tensor/ops.h): the size and
// device checks that every backend shares, then the dispatch.
#include <stdexcept>
#include <string>

#include "tensor/dispatch.h"

namespace fm {

namespace {

// Every stage must have the shape of the state and live on its device.
void check_stages(const char* op, const Tensor& y, std::span<const Tensor* const> k) {
  for (const Tensor* kj : k) {
    common_device(op, {y, *kj});
    if (kj->numel() != y.numel())
      throw std::runtime_error(std::string(op) + ": a stage " + shape_str(kj->shape()) + " does not match the state " +
                               shape_str(y.shape()));
  }
}

void check_parts(const char* op, const Tensor& y, std::span<const int64_t> parts) {
  int64_t total = 0;
  for (int64_t p : parts) total += p;
  if (total != y.numel())
    throw std::runtime_error(std::string(op) + ": parts sum to " + std::to_string(total) + ", not the state's " +
                             std::to_string(y.numel()));
}

// acc [B] against x viewed as [B, D].
void check_rows(const char* op, const Tensor& acc, const Tensor& x) {
  if (acc.numel() == 0 || x.numel() % acc.numel() != 0)
    throw std::runtime_error(std::string(op) + ": " + shape_str(x.shape()) + " has no row per entry of " + shape_str(acc.shape()));
}

}  // namespace

void rk_combine_(Tensor& out, const Tensor& y0, double h, std::span<const double> w, std::span<const Tensor* const> k) {
  check_same_shape(out, y0, "rk_combine_");
  check_stages("rk_combine_", y0, k);
  FM_DISPATCH("rk_combine_", rk_combine_(out, y0, h, w, k), out, y0);
}

double rk_error_ratio(const Tensor& y0, const Tensor& y1, std::span<const Tensor* const> k, double h,
                      std::span<const double> e, double atol, double rtol, std::span<const int64_t> parts) {
  check_same_shape(y0, y1, "rk_error_ratio");
  check_stages("rk_error_ratio", y0, k);
  check_parts("rk_error_ratio", y0, parts);
  FM_DISPATCH("rk_error_ratio", rk_error_ratio(y0, y1, k, h, e, atol, rtol, parts), y0, y1);
}

double scaled_norm(const Tensor& a, const Tensor* b, const Tensor& ref, double atol, double rtol,
                   std::span<const int64_t> parts) {
  check_same_shape(a, ref, "scaled_norm");
  if (b) check_same_shape(a, *b, "scaled_norm");
  check_parts("scaled_norm", a, parts);
  const Tensor none;
  FM_DISPATCH("scaled_norm", scaled_norm(a, b, ref, atol, rtol, parts), a, ref, b ? *b : none);
}

int first_nonfinite(std::span<const Tensor* const> ts) {
  if (ts.empty()) return -1;
  for (const Tensor* t : ts) common_device("first_nonfinite", {*ts[0], *t});
  FM_DISPATCH("first_nonfinite", first_nonfinite(ts), *ts[0]);
}

void row_dot_add_(Tensor& acc, const Tensor& a, const Tensor& c, float scale) {
  check_same_shape(a, c, "row_dot_add_");
  check_rows("row_dot_add_", acc, a);
  FM_DISPATCH("row_dot_add_", row_dot_add_(acc, a, c, scale), acc, a, c);
}

void add_column_(Tensor& acc, const Tensor& x, int64_t i) {
  check_rows("add_column_", acc, x);
  if (i < 0 || i >= x.numel() / acc.numel())
    throw std::runtime_error("add_column_: column " + std::to_string(i) + " out of range for " + shape_str(x.shape()));
  FM_DISPATCH("add_column_", add_column_(acc, x, i), acc, x);
}

std::vector<double> row_sum_squares(const Tensor& x) {
  if (x.ndim() < 1) throw std::runtime_error("row_sum_squares: need rows, got a scalar");
  FM_DISPATCH("row_sum_squares", row_sum_squares(x), x);
}

}  // namespace fm
