// nn/model.cpp
#include "nn/model.h"

#include <stdexcept>

#include "nn/mlp.h"
#include "nn/unet.h"

namespace fm {

static int64_t config_int(const Json& c, const char* key) {
  const Json* v = c.find(key);
  if (!v || !v->is_number() || v->as_number() != static_cast<double>(static_cast<int64_t>(v->as_number())))
    throw std::runtime_error(std::string("model config: '") + key + "' must be an integer");
  return static_cast<int64_t>(v->as_number());
}

static std::string config_kind(const Json& c) {
  const Json* kind = c.is_object() ? c.find("model") : nullptr;
  if (!kind || !kind->is_string()) throw std::runtime_error("model config: missing \"model\" name");
  return kind->as_string();
}

std::unique_ptr<FieldModel> make_model(const Json& config, Rng& rng) {
  std::string kind = config_kind(config);
  if (kind == "mlp") {
    const int64_t classes = config.find("classes") ? config_int(config, "classes") : 0;
    return std::make_unique<MlpField>(config_int(config, "dim"), config_int(config, "width"), config_int(config, "depth"), rng, classes);
  }
  if (kind == "unet") return std::make_unique<UNetField>(unet_config_from_json(config), rng);
  throw std::runtime_error("model config: unknown model '" + kind + "' (known: mlp, unet)");
}

DataKind kind_of(const Shape& shape, const std::string& what) {
  if (shape.size() == 1) return DataKind::Points;
  if (shape.size() == 3) return DataKind::Images;
  throw std::runtime_error(what + ": samples of shape " + shape_str(shape) +
                           " fit neither the MLP (flat N x D data) nor the U-Net (images [C, H, W])");
}

int64_t model_classes(const Json& config) {
  const Json* k = config.is_object() ? config.find("classes") : nullptr;
  return k ? config_int(config, "classes") : 0;
}

Shape model_sample_shape(const Json& config) {
  std::string kind = config_kind(config);
  if (kind == "mlp") return {config_int(config, "dim")};
  if (kind == "unet") {
    UNetConfig c = unet_config_from_json(config);
    return {c.in_channels, c.height, c.width};
  }
  throw std::runtime_error("model config: unknown model '" + kind + "' (known: mlp, unet)");
}

}  // namespace fm
