// apps/train_images.h: the image side of `fm train`: the U-Net from its flags, and the grids
// of samples drawn while training.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "apps/args.h"
#include "nn/unet.h"
#include "ode/solver.h"
#include "tensor/io/safetensors.h"

namespace fm {

// The U-Net flags of `fm train` (declared there): --preset, --channels, --mult, --num-res,
// --attn-res, --groups, --dropout.
inline const std::vector<std::string> kUNetFlags = {"--preset",   "--channels", "--mult",   "--num-res",
                                                    "--attn-res", "--groups",   "--dropout"};

// The U-Net for images of `image_shape` [C, H, W] from those flags: the --preset's shape
// (nn/unet.h) if one is given, with each explicitly given flag overriding it. Throws UsageError
// for an unknown preset and values the network cannot take (naming the flag).
UNetConfig unet_config_from_args(const Args& args, const Shape& image_shape);

// For the run header: "U-Net ch 32, mult 1,2,2, num-res 2, attn-res 7".
std::string describe_unet(const UNetConfig& c);

// 64 samples from fixed noise, drawn as an 8x8 grid. The noise is drawn once, so successive
// grids of one run (and of its resumptions) show the same samples as training progresses.
// The grid has its own copy of the model: the training weights are never touched.
class SampleGrid {
 public:
  // Noise N(0, prior_std^2) of the model's sample shape, from a stream of its own (`seed`).
  SampleGrid(const Json& model_config, double prior_std, uint64_t seed);
  // Loads `weights` (named like the model's parameters: the EMA), solves the flow from the
  // noise with `ode` and writes the grid to `path`. Returns the number of field evaluations.
  int64_t write(const std::string& path, const std::vector<NamedTensor>& weights, const OdeOptions& ode);

 private:
  std::unique_ptr<FieldModel> model_;
  Tensor x0_;
};

}  // namespace fm
