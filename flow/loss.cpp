// flow/loss.cpp
#include "flow/loss.h"

#include "autodiff/ops.h"

namespace fm {

void make_flow_batch(const ProbPath& path, const Tensor& x1, Rng& rng, FlowBatch& batch) {
  if (!batch.x0.defined() || batch.x0.shape() != x1.shape()) batch.x0 = Tensor::empty(x1.shape(), x1.device());
  const int64_t B = x1.dim(0);
  if (!batch.t_host.defined() || batch.t_host.numel() != B) batch.t_host = Tensor::empty({B});
  if (!batch.t.defined() || batch.t.numel() != B || batch.t.device() != x1.device())
    batch.t = x1.device() == Device::CPU ? batch.t_host : Tensor::empty({B}, x1.device());
  rng.normal(batch.x0);
  rng.uniform(batch.t_host, 0.0f, static_cast<float>(path.t_max()));  // the same numbers on any device
  if (!batch.t.shares_storage(batch.t_host)) batch.t.copy_from(batch.t_host);
  path.interpolate(batch.x0, x1, batch.t_host, batch.xt, batch.ut);
}

Var cfm_loss(const FieldModel& model, const FlowBatch& batch, Rng* dropout) {
  return mse_loss(model.forward(Var(batch.xt), batch.t, dropout), batch.ut);
}

}  // namespace fm
