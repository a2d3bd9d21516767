// nn/optim.h: Adam / AdamW (PyTorch's semantics and defaults), gradient-norm clipping,
// learning-rate warm-up and an exponential moving average of the weights.
#pragma once
#include <string>
#include <vector>

#include "nn/module.h"
#include "tensor/io/safetensors.h"

namespace fm {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // Adam: L2 added to the gradient; AdamW: decoupled decay
  bool decoupled = false;     // true = AdamW (PyTorch's default weight_decay there is 1e-2)
};

// Per parameter p with gradient g, at step k (1-based):
//   Adam:  g <- g + wd p                      AdamW: p <- p (1 - lr wd)
//   m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2
//   p <- p - (lr / (1 - b1^k)) m / (sqrt(v) / sqrt(1 - b2^k) + eps)
// (the placement of eps matches torch.optim.Adam exactly.)
class Adam {
 public:
  Adam(std::vector<Param> params, AdamOptions opt);
  // One update with learning rate `lr` (pass options().lr for a constant rate). Parameters
  // without a gradient are skipped, as in PyTorch.
  void step(double lr);
  int64_t steps() const { return step_; }
  const AdamOptions& options() const { return opt_; }

  // Moments as named tensors ("exp_avg.<name>", "exp_avg_sq.<name>") for resumable checkpoints.
  std::vector<NamedTensor> state() const;
  void load_state(const SafetensorsFile& file, int64_t step);

 private:
  std::vector<Param> params_;
  AdamOptions opt_;
  std::vector<Tensor> m_, v_;
  int64_t step_ = 0;
};

// Scales all gradients so their global L2 norm is at most max_norm (torch.nn.utils.clip_grad_norm_,
// with its 1e-6 guard). Returns the norm before clipping.
double clip_grad_norm(const std::vector<Param>& params, double max_norm);

// Linear warm-up: lr * min(1, (step + 1) / warmup). step is 0-based; warmup 0 disables it.
double warmup_lr(double lr, int64_t step, int64_t warmup);

// Exponential moving average of the weights: shadow <- d shadow + (1 - d) p, with the decay
// warmed up as d_k = min(decay, (1 + k) / (10 + k)) at the k-th update, so the average is not
// dominated by the random initial weights early in training (a plain 0.999 average still gives
// them weight 0.999^2000 = 0.14 after 2,000 steps).
class Ema {
 public:
  Ema(const std::vector<Param>& params, double decay);
  void update();
  // The averaged weights, named like the parameters.
  std::vector<NamedTensor> weights() const;
  // Copies the averaged weights into the parameters (for evaluation or saving).
  void copy_to(const std::vector<Param>& params) const;
  double decay() const { return decay_; }
  // Updates so far: the decay warm-up depends on it, so a resumed run must restore it.
  int64_t updates() const { return updates_; }
  // Restores a saved shadow (tensors "<prefix><name>" of `file`) and the update counter.
  void load_state(const SafetensorsFile& file, const std::string& prefix, int64_t updates);

 private:
  std::vector<Param> params_;
  std::vector<Tensor> shadow_;
  double decay_;
  int64_t updates_ = 0;
};

}  // namespace fm
