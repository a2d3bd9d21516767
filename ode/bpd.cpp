// ode/bpd.cpp
#include "ode/bpd.h"

#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

#include "dist/dist.h"
#include "tensor/ops.h"

namespace fm {

Tensor dequantize(const Tensor& pixels, Rng& rng) {
  Tensor u = Tensor::empty(pixels.shape(), pixels.device());
  rng.uniform(u);  // u ~ U[0, 1)
  // 2 (x + u) / 256 = (x + u) / 128 exactly (powers of two), so these are the bits of the formula.
  add_(u, pixels);
  scale_(u, 1.0f / 128.0f);
  return add_scalar(u, -1.0f);
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

BpdResult image_bpd(const FieldFn& v, const Tensor& pixels, const FlowSolveOptions& opt, int dequant, int64_t batch,
                    uint64_t seed, const BpdProgress& progress) {
  return image_bpd([&v](int64_t, int64_t) { return v; }, pixels, opt, dequant, batch, seed, progress);
}

BpdResult image_bpd(const RowsField& field_of_rows, const Tensor& pixels, const FlowSolveOptions& opt, int dequant,
                    int64_t batch, uint64_t seed, const BpdProgress& progress) {
  if (pixels.ndim() < 2 || pixels.dim(0) < 1)
    throw std::runtime_error("image_bpd: need at least one image [N, ...], got " + shape_str(pixels.shape()));
  if (dequant < 1) throw std::runtime_error("image_bpd: dequant must be at least 1");
  if (batch < 1) throw std::runtime_error("image_bpd: batch must be at least 1");
  const int64_t n = pixels.dim(0), dims = pixels.numel() / n;
  BpdResult res;
  std::vector<double> nfe;  // per solve of this process's
  double nfe_sum = 0.0;     // of those, for the progress report
  const std::vector<int64_t> rows = for_each_chunk(n, batch, seed, [&](int64_t, int64_t lo, int64_t hi, Rng& rng) {
    const Tensor chunk = pixels.rows(lo, hi);
    const FieldFn v = field_of_rows(lo, hi);
    std::vector<std::vector<double>> draws;  // draws[k][i]: log p(y) of image lo + i, draw k
    for (int k = 0; k < dequant; ++k) {
      FlowSolveResult r = log_likelihood(v, dequantize(chunk, rng), opt, rng);
      draws.push_back(std::move(r.logp));
      nfe.push_back(double(r.stats.nfe));
      nfe_sum += double(r.stats.nfe);
      if (k + 1 == dequant)  // the chunk is complete: fold its draws into per-image bpd
        for (double lp : importance_weighted_logp(draws)) res.bpd.push_back(bits_per_dim(lp, dims));
      res.solves = int64_t(nfe.size());
      res.mean_nfe = nfe_sum / double(res.solves);
      if (progress) progress(lo * dequant + (hi - lo) * (k + 1), res, r.stats.nfe);
    }
  });
  res.bpd = dist::gather_chunks(res.bpd, rows);
  nfe = dist::gather_chunks(nfe, std::vector<int64_t>(rows.size(), dequant));
  res.solves = int64_t(rows.size()) * dequant;
  res.mean_nfe = std::accumulate(nfe.begin(), nfe.end(), 0.0) / double(std::max<int64_t>(res.solves, 1));
  return res;
}

}  // namespace fm
