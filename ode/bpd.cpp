// ode/bpd.cpp
#include "ode/bpd.h"

#include <cmath>
#include <stdexcept>

#include "tensor/parallel.h"

namespace fm {

Tensor dequantize(const Tensor& pixels, Rng& rng) {
  Tensor y = Tensor::empty(pixels.shape());
  rng.uniform(y);  // u ~ U[0, 1)
  const float* x = pixels.data();
  float* p = y.data();
  parallel_for(y.numel(), 1 << 14, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) p[i] = 2.0f * (x[i] + p[i]) / 256.0f - 1.0f;
  });
  return y;
}

double bits_per_dim(double logp_y, int64_t dims) { return -logp_y / (double(dims) * std::log(2.0)) + 7.0; }

std::vector<double> importance_weighted_logp(const std::vector<std::vector<double>>& draws) {
  if (draws.empty()) throw std::runtime_error("importance_weighted_logp: no draws");
  size_t n = draws[0].size();
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) {
    double m = -INFINITY;  // log-sum-exp, shifted by the largest term
    for (const auto& d : draws) m = std::max(m, d.at(i));
    double s = 0.0;
    for (const auto& d : draws) s += std::exp(d[i] - m);
    out[i] = m + std::log(s / double(draws.size()));
  }
  return out;
}

}  // namespace fm
