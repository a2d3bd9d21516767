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
// A model holds no random state: what a forward pass draws comes from `dropout`, the stream that
// stochastic layers (the U-Net's dropout) draw their masks from while training (the trainer owns
// it, so that it is saved and resumed with the rest of the run); null turns them off, as for
// sampling and likelihoods.
class FieldModel : public Module {
 public:
  virtual Var forward(const Var& x, const Tensor& t, Rng* dropout = nullptr) const = 0;
  // Class-conditional models (nn/class_embedding.h) know K > 0 classes; forward(x, t) of such a
  // model is its unconditional field v(x, t | ∅). Others have 0 classes.
  virtual int64_t num_classes() const { return 0; }
  // v(x, t | y), y given as one-hot rows [B, K + 1] on the model's device (class_onehot; row K is
  // ∅). Throws for a model without classes.
  virtual Var forward_class(const Var& x, const Tensor& t, const Tensor& onehot, Rng* dropout = nullptr) const;
  // The architecture, enough to rebuild the model (stored in checkpoints' metadata).
  virtual Json config() const = 0;
};

// Drops every parameter's gradient (the optimizer's zero_grad).
void zero_grad(const std::vector<Param>& params);

}  // namespace fm
