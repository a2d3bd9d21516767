// flow/loss.cpp
#include "flow/loss.h"

#include "autodiff/ops.h"

namespace fm {

void make_flow_batch(const ProbPath& path, const Tensor& x1, Rng& rng, FlowBatch& batch) {
  if (!batch.x0.defined() || batch.x0.shape() != x1.shape()) batch.x0 = Tensor::empty(x1.shape(), x1.device());
  if (!batch.t.defined() || batch.t.numel() != x1.dim(0)) batch.t = Tensor::empty({x1.dim(0)}, x1.device());
  rng.normal(batch.x0);
  rng.uniform(batch.t, 0.0f, static_cast<float>(path.t_max()));
  path.sample(batch.x0, x1, batch.t, batch.xt, batch.ut);
}

Var cfm_loss(const FieldModel& model, const FlowBatch& batch) {
  return mse_loss(model.forward(Var(batch.xt), batch.t), batch.ut);
}

}  // namespace fm
