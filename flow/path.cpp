// flow/path.cpp
#include "flow/path.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
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

// a = cos(pi t / 2), b = sin(pi t / 2); da = -(pi / 2) b, db = (pi / 2) a.
ProbPath::Coeffs CosinePath::coeffs(double t) const {
  const double h = 0.5 * M_PI, a = std::cos(h * t), b = std::sin(h * t);
  return {a, b, -h * b, h * a};
}

PolyPath::PolyPath(double n) : n_(n) {
  if (!(n >= 1 && std::isfinite(n))) throw std::runtime_error("path poly:N needs a number N >= 1");
}

std::string PolyPath::name() const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "poly:%.17g", n_);  // round-trips through make_path
  return buf;
}

// b = t^n, a = 1 - t^n; db = n t^(n-1) = -da. (N < 1 is refused: its target is infinite at t = 0.)
ProbPath::Coeffs PolyPath::coeffs(double t) const {
  const double b = std::pow(t, n_), db = n_ * std::pow(t, n_ - 1.0);
  return {1.0 - b, b, -db, db};
}

// a = sqrt(1 - t^2), da = -t / a; b = t, db = 1.
ProbPath::Coeffs LinearVPPath::coeffs(double t) const {
  const double a = std::sqrt(std::max(1.0 - t * t, 1e-12));
  return {a, t, -t / a, 1.0};
}

std::unique_ptr<ProbPath> make_path(const std::string& name, double sigma_min) {
  if (name == "condot") return std::make_unique<CondOTPath>(sigma_min);
  if (name == "vp") return std::make_unique<VPPath>();
  if (name == "ve") return std::make_unique<VEPath>();
  if (name == "cosine") return std::make_unique<CosinePath>();
  if (name == "linear-vp") return std::make_unique<LinearVPPath>();
  if (name.rfind("poly:", 0) == 0) {
    const std::string n = name.substr(5);
    char* end = nullptr;
    const double v = n.empty() ? 0.0 : std::strtod(n.c_str(), &end);
    if (n.empty() || *end != '\0' || !(v >= 1) || !std::isfinite(v))
      throw std::runtime_error("path '" + name + "': poly:N needs a number N >= 1 (poly:2, poly:1.5); below 1 its target is infinite at t = 0");
    return std::make_unique<PolyPath>(v);
  }
  throw std::runtime_error("unknown path '" + name + "' (choose condot, vp, ve, cosine, poly:N or linear-vp)");
}

std::unique_ptr<ProbPath> checkpoint_path(const std::map<std::string, std::string>& metadata) {
  const auto path = metadata.find("path"), sigma_min = metadata.find("sigma_min");
  const std::string name = path == metadata.end() ? "condot" : path->second;
  return make_path(name, sigma_min == metadata.end() ? 1e-4 : std::stod(sigma_min->second));
}

}  // namespace fm
