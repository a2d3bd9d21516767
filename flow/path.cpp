// flow/path.cpp
#include "flow/path.h"

#include <cmath>
#include <stdexcept>

#include "tensor/cpu/parallel.h"

namespace fm {

void ProbPath::sample(const Tensor& x0, const Tensor& x1, const Tensor& t, Tensor& xt, Tensor& ut) const {
  check_same_shape(x0, x1, "ProbPath::sample");
  int64_t B = x1.dim(0), row = B ? x1.numel() / B : 0;
  if (t.numel() != B) throw std::runtime_error("ProbPath::sample: need one time per sample");
  if (!xt.defined() || xt.shape() != x1.shape()) xt = Tensor::empty(x1.shape());
  if (!ut.defined() || ut.shape() != x1.shape()) ut = Tensor::empty(x1.shape());
  const float *p0 = x0.data(), *p1 = x1.data(), *pt = t.data();
  float *pxt = xt.data(), *put = ut.data();
  parallel_for(B, 64, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      Coeffs c = coeffs(pt[i]);
      float a = float(c.a), b = float(c.b), da = float(c.da), db = float(c.db);
      for (int64_t j = i * row; j < (i + 1) * row; ++j) {
        pxt[j] = a * p0[j] + b * p1[j];
        put[j] = da * p0[j] + db * p1[j];
      }
    }
  });
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
