// flow/loss.h: the conditional flow-matching objective (paper eq. 9 with a path's target).
//
//   L_CFM = E_{t ~ U[0, t_max], x1 ~ data, x0 ~ N(0, I)} mean || v(x_t, t) - u_t ||^2
#pragma once
#include "flow/path.h"
#include "nn/module.h"
#include "tensor/random.h"

namespace fm {

struct FlowBatch {
  Tensor x0, t, xt, ut;  // on x1's device
  Tensor t_host;         // the times drawn on the host (t itself when x1 is there too)
};

// Draws x0 and t for the data batch x1 and builds x_t and the target u_t (buffers are reused
// when `batch` already has the right shapes). The times are drawn on the host, where the path's
// coefficients are computed from them, and uploaded: no read-back from the device.
void make_flow_batch(const ProbPath& path, const Tensor& x1, Rng& rng, FlowBatch& batch);

// The mean squared error between v(x_t, t) and u_t, as a differentiable scalar; the model's
// stochastic layers draw from `dropout` (null: none, as in evaluation).
Var cfm_loss(const FieldModel& model, const FlowBatch& batch, Rng* dropout = nullptr);

}  // namespace fm
