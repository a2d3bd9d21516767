// apps/train_images.h: the image side of `fm train`: the U-Net from its flags.
#pragma once
#include <string>
#include <vector>

#include "apps/args.h"
#include "nn/unet.h"

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

}  // namespace fm
