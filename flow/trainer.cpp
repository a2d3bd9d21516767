// flow/trainer.cpp
#include "flow/trainer.h"

#include <cmath>
#include <stdexcept>

#include "autodiff/ops.h"

namespace fm {

double scheduled_lr(const TrainOptions& opt, int64_t step) {
  double base = warmup_lr(opt.lr, step, opt.warmup);
  if (opt.schedule == "constant") return base;
  if (opt.schedule != "cosine") throw std::runtime_error("unknown schedule '" + opt.schedule + "' (cosine or constant)");
  double span = double(std::max<int64_t>(opt.steps - opt.warmup, 1));
  double progress = std::min(1.0, double(std::max<int64_t>(step - opt.warmup, 0)) / span);
  return base * 0.5 * (1.0 + std::cos(M_PI * progress));
}

Trainer::Trainer(FieldModel& model, const ProbPath& path, Dataset& data, const TrainOptions& opt)
    : model_(model),
      path_(path),
      data_(data),
      opt_(opt),
      params_(model.parameters()),
      adam_(params_, opt.adam),
      data_rng_(derive_seed(opt.seed, 1)),
      noise_rng_(derive_seed(opt.seed, 2)) {
  if (opt.steps < 1 || opt.batch < 1) throw std::runtime_error("steps and batch must be positive");
  if (!(opt.lr > 0)) throw std::runtime_error("the learning rate must be positive");
  if (opt.ema > 0) ema_ = std::make_unique<Ema>(params_, opt.ema);
  scheduled_lr(opt_, 0);  // validates the schedule name
}

StepStats Trainer::step() {
  Tensor x1 = data_.batch(opt_.batch, data_rng_);
  make_flow_batch(path_, x1, noise_rng_, batch_);
  Var loss = cfm_loss(model_, batch_);
  StepStats s{loss.value().item(), 0.0, scheduled_lr(opt_, done_)};
  if (!std::isfinite(s.loss)) throw std::runtime_error("the loss is " + std::to_string(s.loss) + " at step " + std::to_string(done_));
  zero_grad(params_);
  backward(loss);
  s.grad_norm = clip_grad_norm(params_, opt_.clip > 0 ? opt_.clip : INFINITY);
  if (!std::isfinite(s.grad_norm))
    throw std::runtime_error("the gradient norm is not finite at step " + std::to_string(done_));
  adam_.step(s.lr);
  if (ema_) ema_->update();
  ++done_;
  return s;
}

std::vector<NamedTensor> Trainer::eval_weights() const {
  if (ema_) return ema_->weights();
  std::vector<NamedTensor> out;
  for (const Param& p : params_) out.push_back({p.name, p.var.value()});
  return out;
}

void Trainer::use_eval_weights() {
  if (ema_) ema_->copy_to(params_);
}

}  // namespace fm
