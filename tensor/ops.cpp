// tensor/ops.cpp: the op list's dispatch (tensor/ops.h): shape rules that hold for every backend,
// the device check, and the call into the backend's kernel (tensor/dispatch.h).
#include <stdexcept>
#include <string>

#include "tensor/dispatch.h"
#include "tensor/profile.h"
#include "tensor/shapes.h"

namespace fm {

Device common_device(const char* op, std::initializer_list<std::reference_wrapper<const Tensor>> args) {
  bool seen = false;
  Device device = Device::CPU;
  for (const Tensor& t : args) {
    if (!t.defined()) continue;
    if (seen && t.device() != device)
      throw std::runtime_error(std::string(op) + ": arguments on different devices (" + device_name(device) + " and " +
                               device_name(t.device()) + ")");
    device = t.device();
    seen = true;
  }
  return device;
}

void no_kernel(const char* op, Device device) {
  throw std::runtime_error(std::string(op) + ": no " + device_name(device) + " kernel in this build");
}

// ---- elementwise ----------------------------------------------------------------------------
const char* unary_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: return "neg";
    case UnaryOp::Exp: return "exp";
    case UnaryOp::Log: return "log";
    case UnaryOp::Sqrt: return "sqrt";
    case UnaryOp::Square: return "square";
    case UnaryOp::Tanh: return "tanh";
    case UnaryOp::Sigmoid: return "sigmoid";
    case UnaryOp::Silu: return "silu";
    case UnaryOp::Abs: return "abs";
  }
  return "?";
}

Shape broadcast_shape(const Shape& a, const Shape& b) {
  size_t nd = std::max(a.size(), b.size());
  Shape out(nd);
  for (size_t i = 0; i < nd; ++i) {
    int64_t da = i < nd - a.size() ? 1 : a[i - (nd - a.size())];
    int64_t db = i < nd - b.size() ? 1 : b[i - (nd - b.size())];
    if (da != db && da != 1 && db != 1)
      throw std::runtime_error("shapes " + shape_str(a) + " and " + shape_str(b) + " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Tensor unary(UnaryOp op, const Tensor& x) { FM_DISPATCH("unary", unary(op, x), x); }
Tensor unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& dy) {
  FM_DISPATCH("unary_backward", unary_backward(op, x, y, dy), x, y, dy);
}
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) { FM_DISPATCH("binary", binary(op, a, b), a, b); }
Tensor scale(const Tensor& x, float s) { FM_DISPATCH("scale", scale(x, s), x); }
void scale_(Tensor& x, float s) { FM_DISPATCH("scale_", scale_(x, s), x); }
void add_(Tensor& y, const Tensor& x) { axpy_(1.0f, x, y); }
void axpy_(float alpha, const Tensor& x, Tensor& y) {
  if (x.numel() != y.numel()) throw std::runtime_error("axpy_: " + shape_str(x.shape()) + " into " + shape_str(y.shape()));
  FM_DISPATCH("axpy_", axpy_(alpha, x, y), x, y);
}
Tensor add_scalar(const Tensor& x, float s) { FM_DISPATCH("add_scalar", add_scalar(x, s), x); }

// ---- reductions -----------------------------------------------------------------------------
double sum_all(const Tensor& x) { FM_DISPATCH("sum_all", sum_all(x), x); }
double dot(const Tensor& a, const Tensor& b) {
  if (a.numel() != b.numel()) throw std::runtime_error("dot: sizes differ");
  FM_DISPATCH("dot", dot(a, b), a, b);
}
Tensor mean_square(const Tensor& x) { FM_DISPATCH("mean_square", mean_square(x), x); }
double sum_squares(std::span<const Tensor* const> ts) {
  if (ts.empty()) return 0.0;
  for (const Tensor* t : ts) common_device("sum_squares", {*ts[0], *t});
  FM_DISPATCH("sum_squares", sum_squares(ts), *ts[0]);
}
Tensor sum(const Tensor& x, int axis, bool keepdim) {
  if (axis < -x.ndim() || axis >= x.ndim()) throw std::runtime_error("sum: axis out of range for " + shape_str(x.shape()));
  FM_DISPATCH("sum", sum(x, axis, keepdim), x);
}
// The un-broadcast, composed of sums over single axes on any backend.
Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  const int nd = x.ndim(), lead = nd - int(shape.size());
  if (lead < 0) throw std::runtime_error("sum_to: cannot reduce " + shape_str(x.shape()) + " to " + shape_str(shape));
  Tensor y = x;
  for (int d = 0; d < nd; ++d) {
    const int64_t want = d < lead ? 1 : shape[d - lead];
    if (want == y.shape()[d]) continue;
    if (want != 1) throw std::runtime_error("sum_to: cannot reduce " + shape_str(x.shape()) + " to " + shape_str(shape));
    y = fm::sum(y, d, /*keepdim=*/true);
  }
  return y.reshape(shape);
}
Tensor sum_trailing(const Tensor& x, int keep) {
  if (keep < 0 || keep > x.ndim()) throw std::runtime_error("sum_trailing: cannot keep " + std::to_string(keep) + " dims of " + shape_str(x.shape()));
  FM_DISPATCH("sum_trailing", sum_trailing(x, keep), x);
}
bool all_finite(const Tensor& x) { FM_DISPATCH("all_finite", all_finite(x), x); }

// ---- linear algebra -------------------------------------------------------------------------
namespace {
// fm bench's flop count (tensor/profile.h) of op(a) op(b): 2 M N K per matrix of the batch.
// The shape check is the backends' own (they repeat it).
void count_product(const char* op, const Tensor& a, const Tensor& b, bool ta, bool tb, bool batched) {
  const ProductShape s = product_shape(op, a.shape(), b.shape(), ta, tb, batched);
  profile::add_flops(2.0 * double(s.batch) * double(s.M) * double(s.N) * double(s.K));
}
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  count_product("matmul", a, b, ta, tb, false);
  FM_DISPATCH("matmul", matmul(a, b, ta, tb), a, b);
}
void matmul_into(const Tensor& a, const Tensor& b, bool ta, bool tb, float beta, Tensor& c) {
  count_product("matmul", a, b, ta, tb, false);
  FM_DISPATCH("matmul_into", matmul_into(a, b, ta, tb, beta, c), a, b, c);
}
Tensor bmm(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  count_product("bmm", a, b, ta, tb, true);
  FM_DISPATCH("bmm", bmm(a, b, ta, tb), a, b);
}
void bmm_into(const Tensor& a, const Tensor& b, bool ta, bool tb, float beta, Tensor& c) {
  count_product("bmm", a, b, ta, tb, true);
  FM_DISPATCH("bmm_into", bmm_into(a, b, ta, tb, beta, c), a, b, c);
}
Tensor linear(const Tensor& x, const Tensor& W, const Tensor& b) {
  if (x.ndim() != 2 || W.ndim() != 2 || x.dim(1) != W.dim(1) || (b.defined() && b.numel() != W.dim(0)))
    throw std::runtime_error("linear: input " + shape_str(x.shape()) + " does not match weight " + shape_str(W.shape()) +
                             (b.defined() ? " and bias " + shape_str(b.shape()) : std::string()));
  count_product("linear", x, W, false, true, false);
  FM_DISPATCH("linear", linear(x, W, b), x, W, b);
}

// ---- layout ---------------------------------------------------------------------------------
Tensor concat(const std::vector<Tensor>& parts, int axis) {
  if (parts.empty()) throw std::runtime_error("concat: no tensors");
  for (const Tensor& p : parts) common_device("concat", {parts[0], p});
  FM_DISPATCH("concat", concat(parts, axis), parts[0]);
}
Tensor slice(const Tensor& x, int axis, int64_t begin, int64_t end) { FM_DISPATCH("slice", slice(x, axis, begin, end), x); }
void slice_assign_(Tensor& out, const Tensor& part, int axis, int64_t begin) {
  FM_DISPATCH("slice_assign_", slice_assign_(out, part, axis, begin), out, part);
}
void slice_fill_(Tensor& out, int axis, int64_t begin, int64_t end, float value) {
  FM_DISPATCH("slice_fill_", slice_fill_(out, axis, begin, end, value), out);
}
Tensor transpose2d(const Tensor& x) {
  if (x.ndim() != 2) throw std::runtime_error("transpose2d: expected a 2-D tensor");
  FM_DISPATCH("transpose2d", transpose2d(x), x);
}
Tensor transpose_last2(const Tensor& x) {
  if (x.ndim() < 2) throw std::runtime_error("transpose_last2: expected at least 2 dims, got " + shape_str(x.shape()));
  Shape ys = x.shape();
  std::swap(ys[ys.size() - 1], ys[ys.size() - 2]);
  Tensor y = Tensor::empty(ys, x.device());
  transpose_last2_into(x, 0.0f, y);
  return y;
}
void transpose_last2_into(const Tensor& x, float beta, Tensor& out) {
  if (x.ndim() < 2 || out.numel() != x.numel() || out.dim(-2) != x.dim(-1) || out.dim(-1) != x.dim(-2))
    throw std::runtime_error("transpose_last2_into: " + shape_str(x.shape()) + " into " + shape_str(out.shape()));
  FM_DISPATCH("transpose_last2_into", transpose_last2_into(x, beta, out), x, out);
}
Tensor take_rows(const Tensor& x, const std::vector<int64_t>& index) {
  for (int64_t i : index)
    if (i < 0 || i >= x.dim(0)) throw std::runtime_error("take_rows: index " + std::to_string(i) + " out of range");
  FM_DISPATCH("take_rows", take_rows(x, index), x);
}

// ---- training -------------------------------------------------------------------------------
void adam_update_(Tensor& p, const Tensor& g, Tensor& m, Tensor& v, const AdamStep& s) {
  if (g.numel() != p.numel() || m.numel() != p.numel() || v.numel() != p.numel())
    throw std::runtime_error("adam_update_: parameter " + shape_str(p.shape()) + ", gradient " + shape_str(g.shape()) +
                             " and moments differ in size");
  FM_DISPATCH("adam_update_", adam_update_(p, g, m, v, s), p, g, m, v);
}
void ema_update_(Tensor& shadow, const Tensor& p, float d) {
  if (shadow.numel() != p.numel())
    throw std::runtime_error("ema_update_: shadow " + shape_str(shadow.shape()) + " vs parameter " + shape_str(p.shape()));
  FM_DISPATCH("ema_update_", ema_update_(shadow, p, d), shadow, p);
}
void dropout_mask_(Tensor& u, float p) { FM_DISPATCH("dropout_mask_", dropout_mask_(u, p), u); }
void path_mix_(const Tensor& x0, const Tensor& x1, const Tensor& coef, Tensor& xt, Tensor& ut) {
  const int64_t B = x1.ndim() ? x1.dim(0) : 0;
  if (x0.shape() != x1.shape() || xt.shape() != x1.shape() || ut.shape() != x1.shape() || coef.shape() != Shape{B, 4})
    throw std::runtime_error("path_mix_: x0 " + shape_str(x0.shape()) + ", x1 " + shape_str(x1.shape()) + ", xt " +
                             shape_str(xt.shape()) + ", ut " + shape_str(ut.shape()) + " and coef " + shape_str(coef.shape()) +
                             " (need one shape, and coef [B, 4])");
  FM_DISPATCH("path_mix_", path_mix_(x0, x1, coef, xt, ut), x0, x1, coef, xt, ut);
}

}  // namespace fm
