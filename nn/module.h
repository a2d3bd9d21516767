// nn/module.h: modules own named parameters; a FieldModel is a time-dependent vector field.
//
// Parameter names are stable and follow PyTorch's state_dict naming ("net.0.weight"), and
// layouts follow PyTorch's (Linear weight [out, in]), so a checkpoint written here loads into the
// equivalent PyTorch module with load_state_dict.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "autodiff/var.h"
#include "tensor/random.h"
#include "tensor/io/json.h"

namespace fm {

struct Param {
  std::string name;
  Var var;
};

class Module {
 public:
  virtual ~Module() = default;
  // Appends this module's parameters, each name prefixed with `prefix`.
  virtual void collect(const std::string& prefix, std::vector<Param>& out) const = 0;
  std::vector<Param> parameters() const;
  int64_t num_parameters() const;
  // Moves every parameter to `device` (gradients are dropped); create optimizers afterwards.
  void to(Device device);
  // Where the parameters live (CPU for a module without any).
  Device device() const;
};

// A learned vector field v(x, t): x is a batch [B, ...data dims], t holds one time per sample [B].
class FieldModel : public Module {
 public:
  virtual Var forward(const Var& x, const Tensor& t) const = 0;
  // The architecture, enough to rebuild the model (stored in checkpoints' metadata).
  virtual Json config() const = 0;
  // Training mode switches stochastic layers (dropout); the default is evaluation.
  virtual void set_training(bool) {}
  // Position in the model's own random stream (dropout masks), so a resumed run draws the same
  // masks as an uninterrupted one. The stream's seed comes from the initialisation Rng, so a
  // model rebuilt with the same seed and given the saved offset continues it exactly. Models
  // without randomness keep the defaults.
  virtual uint64_t rng_offset() const { return 0; }
  virtual void set_rng_offset(uint64_t) {}
  // Data-parallel training: this process's rows of the global batch (tensor/random.h), so that
  // each sample's dropout mask is the one of its position in the global batch.
  virtual void set_batch_share(const BatchShare&) {}
};

// Drops every parameter's gradient (the optimizer's zero_grad).
void zero_grad(const std::vector<Param>& params);

}  // namespace fm
