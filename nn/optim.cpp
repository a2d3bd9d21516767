// nn/optim.cpp
#include "nn/optim.h"

#include <cmath>
#include <stdexcept>

#include "tensor/ops.h"
#include "tensor/profile.h"

namespace fm {

Adam::Adam(std::vector<Param> params, AdamOptions opt) : params_(std::move(params)), opt_(opt) {
  for (const Param& p : params_) {
    m_.push_back(Tensor::zeros(p.var.shape(), p.var.value().device()));
    v_.push_back(Tensor::zeros(p.var.shape(), p.var.value().device()));
  }
}

void Adam::step(double lr) {
  FM_PROFILE("adam");
  ++step_;
  const double bc1 = 1.0 - std::pow(opt_.beta1, double(step_));
  const double bc2 = 1.0 - std::pow(opt_.beta2, double(step_));
  const float wd = float(opt_.weight_decay);
  AdamStep s;
  s.b1 = float(opt_.beta1), s.b2 = float(opt_.beta2), s.eps = float(opt_.eps);
  s.step_size = float(lr / bc1), s.inv_sqrt_bc2 = float(1.0 / std::sqrt(bc2));
  s.l2 = !opt_.decoupled ? wd : 0.0f;  // Adam: L2 through the gradient
  s.decay = opt_.decoupled && wd != 0.0f ? float(1.0 - lr * opt_.weight_decay) : 1.0f;  // AdamW
  for (size_t k = 0; k < params_.size(); ++k) {
    Node& node = *params_[k].var.node();
    if (node.grad.defined()) adam_update_(node.value, node.grad, m_[k], v_[k], s);
  }
}

std::vector<NamedTensor> Adam::state() const {
  std::vector<NamedTensor> out;
  for (size_t k = 0; k < params_.size(); ++k) {
    out.push_back({"exp_avg." + params_[k].name, m_[k]});
    out.push_back({"exp_avg_sq." + params_[k].name, v_[k]});
  }
  return out;
}

void Adam::load_state(const SafetensorsFile& file, int64_t step) {
  if (step < 0) throw std::runtime_error("optimizer state: negative step");
  // Two passes: check every tensor first, so a bad file leaves the optimizer as it was.
  for (bool copy : {false, true})
    for (size_t k = 0; k < params_.size(); ++k) {
      for (auto [prefix, dst] : {std::pair{"exp_avg.", &m_[k]}, std::pair{"exp_avg_sq.", &v_[k]}}) {
        const Tensor* t = file.find(prefix + params_[k].name);
        if (!t || t->shape() != dst->shape())
          throw std::runtime_error("optimizer state: missing or mis-shaped '" + std::string(prefix) + params_[k].name + "'");
        if (copy) dst->copy_from(*t);
      }
    }
  step_ = step;
}

double clip_grad_norm(const std::vector<Param>& params, double max_norm) {
  FM_PROFILE("clip_grad_norm");
  std::vector<const Tensor*> grads;
  for (const Param& p : params)
    if (p.var.grad().defined()) grads.push_back(&p.var.grad());
  double norm = std::sqrt(sum_squares(grads));  // one scalar from the device for all of them
  double coef = max_norm / (norm + 1e-6);
  if (coef < 1.0)
    for (const Param& p : params)
      if (p.var.grad().defined()) scale_(p.var.node()->grad, float(coef));
  return norm;
}

double warmup_lr(double lr, int64_t step, int64_t warmup) {
  if (warmup <= 0) return lr;
  return lr * std::min(1.0, double(step + 1) / double(warmup));
}

Ema::Ema(const std::vector<Param>& params, double decay) : params_(params), decay_(decay) {
  if (!(decay >= 0.0 && decay < 1.0)) throw std::runtime_error("EMA decay must be in [0, 1)");
  for (const Param& p : params_) shadow_.push_back(p.var.value().clone());
}

void Ema::update() {
  FM_PROFILE("ema");
  const float d = float(std::min(decay_, double(1 + updates_) / double(10 + updates_)));
  ++updates_;
  for (size_t k = 0; k < params_.size(); ++k) ema_update_(shadow_[k], params_[k].var.value(), d);
}

std::vector<NamedTensor> Ema::weights() const {
  std::vector<NamedTensor> out;
  for (size_t k = 0; k < params_.size(); ++k) out.push_back({params_[k].name, shadow_[k]});
  return out;
}

void Ema::load_state(const SafetensorsFile& file, const std::string& prefix, int64_t updates) {
  if (updates < 0) throw std::runtime_error("EMA state: negative update count");
  for (size_t k = 0; k < params_.size(); ++k) {  // check everything before changing anything
    const Tensor* t = file.find(prefix + params_[k].name);
    if (!t || t->shape() != shadow_[k].shape())
      throw std::runtime_error("EMA state: missing or mis-shaped '" + prefix + params_[k].name + "'");
  }
  for (size_t k = 0; k < params_.size(); ++k) shadow_[k].copy_from(*file.find(prefix + params_[k].name));
  updates_ = updates;
}

void Ema::copy_to(const std::vector<Param>& params) const {
  if (params.size() != shadow_.size()) throw std::runtime_error("Ema::copy_to: parameter lists differ");
  for (size_t k = 0; k < params.size(); ++k) params[k].var.node()->value.copy_from(shadow_[k]);
}

}  // namespace fm
