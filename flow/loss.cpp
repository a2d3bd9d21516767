// flow/loss.cpp
#include "flow/loss.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <vector>

#include "autodiff/ops.h"

namespace fm {

TimeDist TimeDist::parse(const std::string& text) {
  TimeDist d;
  if (text == "uniform") return d;
  d.logit_normal = true;
  if (text == "logit-normal") return d;
  const std::string head = "logit-normal:";
  const size_t comma = text.find(',');
  if (text.rfind(head, 0) == 0 && comma != std::string::npos) {
    char *end_m = nullptr, *end_s = nullptr;
    const std::string m = text.substr(head.size(), comma - head.size()), s = text.substr(comma + 1);
    d.m = std::strtod(m.c_str(), &end_m);
    d.s = std::strtod(s.c_str(), &end_s);
    if (!m.empty() && !s.empty() && *end_m == '\0' && *end_s == '\0' && std::isfinite(d.m) && std::isfinite(d.s) && d.s > 0)
      return d;
  }
  throw std::invalid_argument("must be uniform, logit-normal or logit-normal:M,S with numbers M and S > 0");
}

std::string TimeDist::name() const {
  if (!logit_normal) return "uniform";
  char buf[64];
  std::snprintf(buf, sizeof buf, "logit-normal:%.17g,%.17g", m, s);
  return buf;
}

void make_flow_batch(const ProbPath& path, const Tensor& x1, Rng& rng, FlowBatch& batch, const TimeDist& times, const Tensor* x0) {
  if (!batch.x0.defined() || batch.x0.shape() != x1.shape()) batch.x0 = Tensor::empty(x1.shape(), x1.device());
  const int64_t B = x1.dim(0);
  if (!batch.t_host.defined() || batch.t_host.numel() != B) batch.t_host = Tensor::empty({B});
  if (!batch.t.defined() || batch.t.numel() != B || batch.t.device() != x1.device())
    batch.t = x1.device() == Device::CPU ? batch.t_host : Tensor::empty({B}, x1.device());
  if (x0) {
    if (x0->shape() != x1.shape()) throw std::runtime_error("make_flow_batch: noise and data shapes differ");
    batch.x0.copy_from(*x0);
  } else {
    rng.normal(batch.x0);
  }
  // The same numbers on any device: drawn on the host.
  if (!times.logit_normal) {
    rng.uniform(batch.t_host, 0.0f, static_cast<float>(path.t_max()));
  } else {
    rng.normal(batch.t_host);
    std::vector<float> t = batch.t_host.to_vector();  // B floats, as ProbPath::interpolate reads them
    for (float& v : t) v = static_cast<float>(std::min(path.t_max(), 1.0 / (1.0 + std::exp(-(times.m + times.s * v)))));
    batch.t_host.copy_from(Tensor::from(t, {B}));
  }
  if (!batch.t.shares_storage(batch.t_host)) batch.t.copy_from(batch.t_host);
  path.interpolate(batch.x0, x1, batch.t_host, batch.xt, batch.ut);
}

Var cfm_loss(const FieldModel& model, const FlowBatch& batch, Rng* dropout) {
  if (batch.onehot.defined()) return mse_loss(model.forward_class(Var(batch.xt), batch.t, batch.onehot, dropout), batch.ut);
  return mse_loss(model.forward(Var(batch.xt), batch.t, dropout), batch.ut);
}

}  // namespace fm
