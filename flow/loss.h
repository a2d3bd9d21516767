// flow/loss.h: the conditional flow-matching objective (paper eq. 9 with a path's target).
//
//   L_CFM = E_{t ~ U[0, t_max], x1 ~ data, x0 ~ N(0, I)} mean || v(x_t, t) - u_t ||^2
// (or t from another distribution on [0, t_max]: TimeDist)
#pragma once
#include <string>

#include "flow/path.h"
#include "nn/module.h"
#include "tensor/random.h"

namespace fm {

// How training draws t. The paper draws it uniformly on [0, t_max]. "logit-normal:m,s" draws
// t = sigmoid(m + s z), z ~ N(0, 1) (Esser et al. 2024, "SD3"; plain "logit-normal" is m = 0, s = 1),
// which puts the training steps where t is neither 0 nor 1, or with m > 0 nearer the data. In this
// project's convention (t = 1 is data, as in Meta's flow_matching library) that library's
// "skewed" time sampling of its image examples is logit-normal:1.2,1.2. Times are capped at t_max.
struct TimeDist {
  bool logit_normal = false;
  double m = 0.0, s = 1.0;
  // "uniform", "logit-normal" or "logit-normal:M,S" (S > 0); throws std::invalid_argument naming
  // the valid forms otherwise.
  static TimeDist parse(const std::string& text);
  std::string name() const;  // parse(name()) gives it back
};

struct FlowBatch {
  Tensor x0, t, xt, ut;  // on x1's device
  Tensor t_host;         // the times drawn on the host (t itself when x1 is there too)
  Tensor onehot;         // a conditional model's labels, one-hot [B, K + 1] (nn/class_embedding.h); else undefined
};

// Draws x0 and t (from `times`) for the data batch x1 and builds x_t and the target u_t (buffers
// are reused when `batch` already has the right shapes). The times are drawn on the host, where
// the path's coefficients are computed from them, and uploaded: no read-back from the device.
// With `x0` given (a coupling drew and paired it: flow/coupling.h), only t is drawn.
void make_flow_batch(const ProbPath& path, const Tensor& x1, Rng& rng, FlowBatch& batch, const TimeDist& times = {},
                     const Tensor* x0 = nullptr);

// The mean squared error between v(x_t, t) and u_t (v(x_t, t | y) with batch.onehot), as a
// differentiable scalar; the model's stochastic layers draw from `dropout` (null: none, as in
// evaluation).
Var cfm_loss(const FieldModel& model, const FlowBatch& batch, Rng* dropout = nullptr);

}  // namespace fm
