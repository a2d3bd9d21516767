// tests/gaussian_field.h: Gaussian data and the exact marginal field that generates it along a
// path, the independent truth of the likelihood and scheduler-change tests.
//
// For data x1 ~ N(mu, diag(s^2)) the CondOT path keeps every marginal Gaussian:
//   x_t = a x0 + t x1,  a = 1 - (1 - sigma_min) t   =>   p_t = N(t mu, diag(a^2 + t^2 s^2)),
// and the marginal vector field that generates it is, per dimension d,
//   u_t(x) = mu + k_d(t) (x - t mu),   k_d(t) = (a a' + t s_d^2) / (a^2 + t^2 s_d^2),  a' = -(1 - sigma_min).
// So the flow's model density at t = 1 is exactly N(mu, diag(sigma_min^2 + s^2)).
// Any affine path x_t = a(t) x0 + b(t) x1 (flow/path.h) does the same with p_t = N(b mu, a^2 + b^2 s^2):
//   u_t(x) = b' mu + k_d(t) (x - b mu),   k_d(t) = (a a' + b b' s_d^2) / (a^2 + b^2 s_d^2),
// and the model density at t = 1 is N(b(1) mu, diag(a(1)^2 + b(1)^2 s^2)), with the prior N(0, I)
// exact when a(0) = 1 and b(0) = 0 (CondOT and the affine schedulers, not vp or ve).
// To make the Jacobian non-diagonal (else a Rademacher probe gives the trace exactly), the
// covariance is rotated by a Householder reflection R = I - 2 w w^T / |w|^2 (R = R^T = R^-1):
// data R z with z ~ N(R mu, diag(s^2)), field u = mu + R K R (x - t mu).
#pragma once
#include <cmath>
#include <vector>

#include "autodiff/ops.h"
#include "flow/path.h"
#include "tensor/random.h"

namespace fm::testing {

struct GaussianField {
  std::vector<float> mu, s;
  double sigma_min = 1e-4;
  const ProbPath* path = nullptr;  // nullptr: CondOT with sigma_min, written out below

  ProbPath::Coeffs coeffs(double t) const {
    if (path) return path->coeffs(t);
    return {1.0 - (1.0 - sigma_min) * t, t, -(1.0 - sigma_min), 1.0};
  }

  // R[i][j] for the reflection along w = (1, 2, ..., D).
  double R(int64_t i, int64_t j) const {
    double ww = 0.0;
    for (size_t d = 0; d < mu.size(); ++d) ww += double(d + 1) * (d + 1);
    return (i == j ? 1.0 : 0.0) - 2.0 * double(i + 1) * double(j + 1) / ww;
  }

  Var operator()(const Var& x, const Tensor& t) const {
    double tt = t.data()[0];  // all samples share t inside an ODE solve
    int64_t D = static_cast<int64_t>(mu.size());
    const ProbPath::Coeffs c = coeffs(tt);
    std::vector<double> k(D);
    std::vector<float> tm(D), dmu(D), M(D * D, 0.0f);
    for (int64_t d = 0; d < D; ++d) {
      double s2 = double(s[d]) * s[d];
      k[d] = (c.a * c.da + c.b * c.db * s2) / (c.a * c.a + c.b * c.b * s2);
      tm[d] = float(c.b * mu[d]);
      dmu[d] = float(c.db * mu[d]);
    }
    for (int64_t i = 0; i < D; ++i)  // M = R diag(k) R
      for (int64_t j = 0; j < D; ++j) {
        double m = 0.0;
        for (int64_t d = 0; d < D; ++d) m += R(i, d) * k[d] * R(d, j);
        M[i * D + j] = float(m);
      }
    Var centred = sub(x, Var(Tensor::from(tm, {D})));
    return add(matmul(centred, Var(Tensor::from(M, {D, D})), false, true), Var(Tensor::from(dmu, {D})));
  }

  double log_density(const float* x) const {  // N(b(1) mu, a(1)^2 + b(1)^2 s^2) at t = 1
    int64_t D = static_cast<int64_t>(mu.size());
    const ProbPath::Coeffs c = coeffs(1.0);
    double lp = 0.0;
    for (int64_t d = 0; d < D; ++d) {
      double z = 0.0;  // rotated coordinate (R (x - b mu))_d
      for (int64_t j = 0; j < D; ++j) z += R(d, j) * (x[j] - c.b * mu[j]);
      double var = c.a * c.a + c.b * c.b * double(s[d]) * s[d];
      lp += -0.5 * std::log(2.0 * M_PI * var) - 0.5 * z * z / var;
    }
    return lp;
  }
};

inline Tensor gaussian_data(const GaussianField& g, int64_t B, uint64_t seed) {
  int64_t D = static_cast<int64_t>(g.mu.size());
  Tensor z = Tensor::empty({B, D}), x = Tensor::empty({B, D});
  Rng(seed).normal(z);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < D; ++i) {
      double r = 0.0;  // x = mu + R diag(s) z
      for (int64_t d = 0; d < D; ++d) r += g.R(i, d) * g.s[d] * z.data()[b * D + d];
      x.data()[b * D + i] = float(g.mu[i] + r);
    }
  return x;
}

}  // namespace fm::testing
