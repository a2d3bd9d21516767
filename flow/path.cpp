// flow/path.cpp
#include "flow/path.h"

#include <cmath>
#include <stdexcept>

#include "tensor/ops.h"

namespace fm {

void ProbPath::interpolate(const Tensor& x0, const Tensor& x1, const Tensor& t, Tensor& xt, Tensor& ut) const {
  check_same_shape(x0, x1, "ProbPath::interpolate");
  const int64_t B = x1.dim(0);
  if (t.numel() != B) throw std::runtime_error("ProbPath::interpolate: need one time per sample");
  if (!xt.defined() || xt.shape() != x1.shape()) xt = Tensor::empty(x1.shape(), x1.device());
  if (!ut.defined() || ut.shape() != x1.shape()) ut = Tensor::empty(x1.shape(), x1.device());
  // The schedule's coefficients are a few doubles per sample, computed on the host from t (B
  // floats) and handed to the op as one small [B, 4] tensor.
  const std::vector<float> ts = t.to_vector();
  std::vector<float> coef(4 * size_t(B));
  for (int64_t i = 0; i < B; ++i) {
    const Coeffs c = coeffs(ts[size_t(i)]);
    coef[4 * i] = float(c.a), coef[4 * i + 1] = float(c.b), coef[4 * i + 2] = float(c.da), coef[4 * i + 3] = float(c.db);
  }
  path_mix_(x0, x1, Tensor::from(coef, {B, 4}, x1.device()), xt, ut);
}

ProbPath::Coeffs CondOTPath::coeffs(double t) const {
  return {1.0 - (1.0 - sigma_min_) * t, t, -(1.0 - sigma_min_), 1.0};
}

// With s = 1 - t: b = alpha(s), db/dt = -alpha'(s) = alpha(s) beta(s) / 2;
// a = sqrt(1 - alpha^2), da/dt = -alpha (db/dt) / a.
ProbPath::Coeffs VPPath::coeffs(double t) const {
  double s = 1.0 - t;
  double T = beta_min_ * s + 0.5 * (beta_max_ - beta_min_) * s * s;
  double beta = beta_min_ + (beta_max_ - beta_min_) * s;
  double alpha = std::exp(-0.5 * T);
  double a = std::sqrt(std::max(1.0 - alpha * alpha, 1e-12));
  double db = 0.5 * alpha * beta;
  return {a, alpha, -alpha * db / a, db};
}

// a = sigma(1 - t), da/dt = -sigma(1 - t) log(sigma_max / sigma_min); b = 1.
ProbPath::Coeffs VEPath::coeffs(double t) const {
  double ratio = std::log(sigma_max_ / sigma_min_);
  double a = sigma_min_ * std::exp(ratio * (1.0 - t));
  return {a, 1.0, -a * ratio, 0.0};
}

std::unique_ptr<ProbPath> make_path(const std::string& name, double sigma_min) {
  if (name == "condot") return std::make_unique<CondOTPath>(sigma_min);
  if (name == "vp") return std::make_unique<VPPath>();
  if (name == "ve") return std::make_unique<VEPath>();
  throw std::runtime_error("unknown path '" + name + "' (choose condot, vp or ve)");
}

}  // namespace fm
