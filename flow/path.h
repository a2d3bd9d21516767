// flow/path.h: conditional probability paths p_t(x | x1) (paper section 4).
//
// Every path in the paper is Gaussian with a flow that is affine in the noise x0 ~ N(0, I) and
// the data x1:
//     x_t = psi_t(x0 | x1) = a(t) x0 + b(t) x1            (a = sigma_t, b x1 = mu_t(x1))
// and the regression target of conditional flow matching is its time derivative (eq. 13):
//     u_t = d/dt psi_t(x0 | x1) = a'(t) x0 + b'(t) x1.
// So a path is four scalar functions of t. Convention: t = 0 is noise, t = 1 is data.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "tensor/tensor.h"

namespace fm {

class ProbPath {
 public:
  struct Coeffs {
    double a, b;    // x_t = a x0 + b x1
    double da, db;  // u_t = da x0 + db x1
  };
  virtual ~ProbPath() = default;
  virtual std::string name() const = 0;
  virtual Coeffs coeffs(double t) const = 0;
  // Training draws t ~ U[0, t_max]; the VP path is singular at t = 1.
  virtual double t_max() const { return 1.0; }
  // Standard deviation of the source p_0 = N(0, s^2 I) used for sampling and likelihoods.
  virtual double prior_std() const { return 1.0; }

  // x_t and u_t for a batch (it draws nothing): x0, x1 [B, ...] on one device, t [B] one time per
  // sample, read on the host (pass a host tensor: a device one is copied back first). xt and ut are
  // (re)allocated on x1's device unless they already have its shape.
  void interpolate(const Tensor& x0, const Tensor& x1, const Tensor& t, Tensor& xt, Tensor& ut) const;
};

// CondOT, "FM w/ OT" (eq. 20-23): mu_t = t x1, sigma_t = 1 - (1 - sigma_min) t, so
//   x_t = (1 - (1 - sigma_min) t) x0 + t x1,   u_t = x1 - (1 - sigma_min) x0.
class CondOTPath : public ProbPath {
 public:
  explicit CondOTPath(double sigma_min = 1e-4) : sigma_min_(sigma_min) {}
  std::string name() const override { return "condot"; }
  Coeffs coeffs(double t) const override;

 private:
  double sigma_min_;
};

// Variance preserving diffusion path, time reversed (eq. 19): with s = 1 - t,
//   alpha(s) = exp(-T(s)/2), T(s) = int_0^s beta = beta_min s + (beta_max - beta_min) s^2 / 2,
//   mu_t = alpha(1 - t) x1, sigma_t = sqrt(1 - alpha(1 - t)^2).
class VPPath : public ProbPath {
 public:
  VPPath(double beta_min = 0.1, double beta_max = 20.0) : beta_min_(beta_min), beta_max_(beta_max) {}
  std::string name() const override { return "vp"; }
  Coeffs coeffs(double t) const override;
  double t_max() const override { return 1.0 - 1e-5; }

 private:
  double beta_min_, beta_max_;
};

// Variance exploding diffusion path, time reversed (eq. 17): mu_t = x1, sigma_t = sigma(1 - t)
// with sigma(s) = sigma_min (sigma_max / sigma_min)^s, so the source is N(0, sigma_max^2 I).
class VEPath : public ProbPath {
 public:
  VEPath(double sigma_min = 0.01, double sigma_max = 10.0) : sigma_min_(sigma_min), sigma_max_(sigma_max) {}
  std::string name() const override { return "ve"; }
  Coeffs coeffs(double t) const override;
  double prior_std() const override { return sigma_max_; }

 private:
  double sigma_min_, sigma_max_;
};

// The affine schedulers of Meta's flow_matching library (same convention: x_t = sigma_t x0 +
// alpha_t x1, t = 1 is data), all with sigma_1 = 0, so the path ends exactly at x1:
//   cosine:    alpha = sin(pi t / 2),  sigma = cos(pi t / 2)
//   poly:n:    alpha = t^n,            sigma = 1 - t^n, n >= 1  (poly:1 is CondOT with sigma_min = 0)
//   linear-vp: alpha = t,              sigma = sqrt(1 - t^2)    (variance preserving, alpha^2 + sigma^2 = 1)
class CosinePath : public ProbPath {
 public:
  std::string name() const override { return "cosine"; }
  Coeffs coeffs(double t) const override;
};

class PolyPath : public ProbPath {
 public:
  explicit PolyPath(double n);  // n >= 1 (below 1 the target is infinite at t = 0)
  std::string name() const override;
  Coeffs coeffs(double t) const override;

 private:
  double n_;
};

// d sigma / dt = -t / sqrt(1 - t^2) is infinite at t = 1: training draws t below it, as for vp.
class LinearVPPath : public ProbPath {
 public:
  std::string name() const override { return "linear-vp"; }
  Coeffs coeffs(double t) const override;
  double t_max() const override { return 1.0 - 1e-5; }
};

// "condot" (uses sigma_min), "vp", "ve", "cosine", "poly:N" (N >= 1) or "linear-vp"; make_path(p.name())
// rebuilds p (checkpoints store the name). Throws naming the valid paths otherwise.
std::unique_ptr<ProbPath> make_path(const std::string& name, double sigma_min = 1e-4);

// The path a checkpoint's model was trained on, from its metadata: "path" (condot when absent)
// and, for condot, "sigma_min" (1e-4, the default, in checkpoints written before it was stored).
std::unique_ptr<ProbPath> checkpoint_path(const std::map<std::string, std::string>& metadata);

}  // namespace fm
