// apps/train_images.cpp: the U-Net of `fm train` from its flags and presets.
#include "apps/train_images.h"

#include <cstdio>
#include <stdexcept>

#include "apps/common.h"

namespace fm {

UNetConfig unet_config_from_args(const Args& args, const Shape& image_shape) {
  // A preset gives the shape; every flag given explicitly overrides its part of it. Without a
  // preset the flags' own defaults apply (the Fashion-MNIST U-Net).
  UNetConfig c;
  if (args.given("--preset")) {
    try {
      c = unet_preset(args.str("--preset"));
    } catch (const std::runtime_error& e) {
      throw UsageError(std::string("--preset: ") + e.what());
    }
  }
  const bool preset = args.given("--preset");
  auto use = [&](const char* flag) { return !preset || args.given(flag); };
  c.in_channels = image_shape[0];
  c.height = image_shape[1];
  c.width = image_shape[2];
  if (use("--channels")) c.channels = args.i64("--channels");
  if (use("--mult")) c.mult = args.i64_list("--mult");
  if (use("--num-res")) c.num_res = args.i64("--num-res");
  if (use("--attn-res")) {
    const std::string attn = args.str("--attn-res");
    c.attn_res = attn == "none" || attn.empty() ? std::vector<int64_t>{} : args.i64_list("--attn-res");
  }
  if (use("--groups")) c.groups = args.i64("--groups");
  if (use("--dropout")) c.dropout = args.f64("--dropout");
  if (c.channels < 1 || c.num_res < 1 || c.groups < 1)
    throw UsageError("--channels, --num-res and --groups must be positive");
  for (int64_t m : c.mult)
    if (m < 1) throw UsageError("--mult must hold positive integers");
  for (int64_t r : c.attn_res)
    if (r < 1) throw UsageError("--attn-res must hold positive resolutions");
  for (int64_t m : c.mult)
    if ((c.channels * m) % c.groups)
      throw UsageError("--groups " + std::to_string(c.groups) + " must divide every level's channels (--channels x --mult)");
  if (!(c.dropout >= 0 && c.dropout < 1)) throw UsageError("--dropout must be in [0, 1)");
  return c;
}

static std::string join(const std::vector<int64_t>& v) {
  std::string s;
  for (int64_t x : v) {
    if (!s.empty()) s += ',';
    s += std::to_string(x);
  }
  return s;
}

std::string describe_unet(const UNetConfig& c) {
  std::string s = "U-Net ch " + std::to_string(c.channels) + ", mult " + join(c.mult) + ", num-res " +
                  std::to_string(c.num_res) + ", attn-res " + (c.attn_res.empty() ? "none" : join(c.attn_res));
  if (c.dropout > 0) {
    char buf[32];
    std::snprintf(buf, sizeof buf, ", dropout %g", c.dropout);
    s += buf;
  }
  return s;
}

}  // namespace fm
