// flow/trainer.h: the conditional flow-matching training loop, one step at a time.
//
// A step draws data x1 and noise x0, a time t ~ U[0, t_max], builds x_t and the target u_t,
// regresses v(x_t, t) onto u_t (MSE), backpropagates, clips the gradient norm, takes an Adam
// step at the scheduled learning rate and updates the EMA of the weights. Every random number
// comes from streams derived from one seed, so a run is reproducible for any thread count.
#pragma once
#include <memory>
#include <string>

#include "flow/dataset.h"
#include "flow/loss.h"
#include "nn/optim.h"

namespace fm {

struct TrainOptions {
  int64_t steps = 2000;
  int64_t batch = 2048;
  double lr = 2e-3;
  std::string schedule = "cosine";  // after warm-up: "cosine" (to zero at `steps`) or "constant"
  int64_t warmup = 100;
  double clip = 1.0;                // max global gradient norm; 0 = off
  double ema = 0.999;               // EMA decay; 0 = off
  AdamOptions adam;                 // lr inside is ignored (the schedule sets it)
  uint64_t seed = 0;
};

struct StepStats {
  double loss, grad_norm, lr;
};

// Learning rate at 0-based `step`: linear warm-up, then constant or cosine decay.
double scheduled_lr(const TrainOptions& opt, int64_t step);

class Trainer {
 public:
  Trainer(FieldModel& model, const ProbPath& path, Dataset& data, const TrainOptions& opt);
  // One optimisation step. Throws (leaving the weights as they were before the step) if the
  // loss or the gradient is not finite.
  StepStats step();
  int64_t steps_done() const { return done_; }
  // The weights to save and evaluate: the EMA when enabled, else the raw parameters.
  std::vector<NamedTensor> eval_weights() const;
  // Loads eval_weights() into the model (call after training, before sampling).
  void use_eval_weights();

 private:
  FieldModel& model_;
  const ProbPath& path_;
  Dataset& data_;
  TrainOptions opt_;
  std::vector<Param> params_;
  Adam adam_;
  std::unique_ptr<Ema> ema_;
  Rng data_rng_, noise_rng_;
  FlowBatch batch_;
  int64_t done_ = 0;
};

}  // namespace fm
