// nn/model.h: builds a FieldModel from its configuration (the JSON stored in checkpoints).
#pragma once
#include <memory>

#include "nn/module.h"
#include "tensor/random.h"

namespace fm {

// {"model": "mlp", "dim": D, "width": W, "depth": L} or {"model": "unet", ...} (nn/unet.h), either
// with "classes": K for a class-conditional model (nn/class_embedding.h).
// Throws on unknown or invalid fields.
std::unique_ptr<FieldModel> make_model(const Json& config, Rng& rng);

// The number of classes of a class-conditional model's config ("classes"), 0 for others.
int64_t model_classes(const Json& config);

// The shape of one data sample the model expects (e.g. [2] or [1, 28, 28]).
Shape model_sample_shape(const Json& config);

// Points (flat samples [D]: the MLP) or images ([C, H, W]: the U-Net), decided once from a sample
// shape: it picks the model and the defaults that differ between the two.
enum class DataKind { Points, Images };
// Throws "<what>: samples of shape [..] fit neither ..." for any other shape.
DataKind kind_of(const Shape& sample_shape, const std::string& what = "the data");

}  // namespace fm
