// nn/model.h: builds a FieldModel from its configuration (the JSON stored in checkpoints).
#pragma once
#include <memory>

#include "nn/module.h"
#include "tensor/random.h"

namespace fm {

// {"model": "mlp", "dim": D, "width": W, "depth": L} or {"model": "unet", ...} (nn/unet.h).
// Throws on unknown or invalid fields.
std::unique_ptr<FieldModel> make_model(const Json& config, Rng& rng);

// The shape of one data sample the model expects (e.g. [2] or [1, 28, 28]).
Shape model_sample_shape(const Json& config);

}  // namespace fm
