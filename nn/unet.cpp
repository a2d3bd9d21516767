// nn/unet.cpp
#include "nn/unet.h"

#include <cmath>
#include <stdexcept>

#include "autodiff/ops_image.h"

namespace fm {

// ---- blocks ---------------------------------------------------------------------------------
struct UNetField::ResBlock {
  GroupNorm norm1, norm2;
  Conv2d conv1, conv2;
  Linear emb_proj;
  std::unique_ptr<Conv2d> skip;  // 1x1 when the channel count changes

  ResBlock(int64_t in, int64_t out, int64_t emb, int64_t groups, Rng& rng)
      : norm1(groups, in), norm2(groups, out), conv1(in, out, 3, rng), conv2(out, out, 3, rng), emb_proj(emb, out, rng) {
    if (in != out) skip = std::make_unique<Conv2d>(in, out, 1, rng);
  }

  // h = conv1(silu(gn1(x))) + proj(silu(temb)) ; h = conv2(dropout(silu(gn2(h)))) ; return skip(x) + h
  // Both additions happen inside the convolutions (as their outputs are initialised). Dropout
  // draws from `rng` when there is one (training).
  Var forward(const Var& x, const Var& silu_temb, double p, Rng* rng) const {
    Var h = conv1.forward(norm1.forward_silu(x), emb_proj.forward(silu_temb), Var());
    Var a = norm2.forward_silu(h);
    if (rng) a = dropout(a, float(p), true, *rng);
    return conv2.forward(a, Var(), skip ? skip->forward(x) : x);
  }

  void collect(const std::string& prefix, std::vector<Param>& out) const {
    norm1.collect(prefix + "norm1.", out);
    conv1.collect(prefix + "conv1.", out);
    emb_proj.collect(prefix + "emb_proj.", out);
    norm2.collect(prefix + "norm2.", out);
    conv2.collect(prefix + "conv2.", out);
    if (skip) skip->collect(prefix + "skip.", out);
  }
};

struct UNetField::AttnBlock {
  GroupNorm norm;
  Conv2d qkv, proj;
  int64_t channels;

  AttnBlock(int64_t c, int64_t groups, Rng& rng) : norm(groups, c), qkv(c, 3 * c, 1, rng), proj(c, c, 1, rng), channels(c) {}

  // Single-head attention over the N = H W positions: w = softmax(q^T k / sqrt(C)) (rows: queries),
  // out[c, i] = sum_j v[c, j] w[i, j].
  Var forward(const Var& x) const {
    int64_t B = x.dim(0), C = channels, H = x.dim(2), W = x.dim(3);
    Var h = reshape(qkv.forward(norm.forward(x)), {B, 3 * C, H * W});
    Var q = slice(h, 1, 0, C), k = slice(h, 1, C, 2 * C), v = slice(h, 1, 2 * C, 3 * C);
    Var w = softmax(bmm(q, k, /*trans_a=*/true, false), float(1.0 / std::sqrt(double(C))));  // [B, N, N]
    Var out = bmm(v, w, false, /*trans_b=*/true);                                                     // [B, C, N]
    return proj.forward(reshape(out, {B, C, H, W}), Var(), x);  // x + proj(out), the residual fused
  }

  void collect(const std::string& prefix, std::vector<Param>& out) const {
    norm.collect(prefix + "norm.", out);
    qkv.collect(prefix + "qkv.", out);
    proj.collect(prefix + "proj.", out);
  }
};

// One resolution of the down or up path: its blocks, attention after each when enabled, and the
// resampling conv (Downsample: stride-2 Conv3x3; Upsample: nearest 2x then Conv3x3).
struct UNetField::Level {
  std::vector<ResBlock> res;
  std::vector<AttnBlock> attn;
  std::unique_ptr<Conv2d> resample;

  void collect(const std::string& prefix, std::vector<Param>& out, const char* resample_name) const {
    for (size_t j = 0; j < res.size(); ++j) {
      res[j].collect(prefix + "res." + std::to_string(j) + ".", out);
      if (!attn.empty()) attn[j].collect(prefix + "attn." + std::to_string(j) + ".", out);
    }
    if (resample) resample->collect(prefix + resample_name + ".", out);
  }
};

// ---- config ---------------------------------------------------------------------------------
Json unet_config_json(const UNetConfig& c) {
  Json::Array mult(c.mult.begin(), c.mult.end()), attn(c.attn_res.begin(), c.attn_res.end());
  Json j = Json::Object{};
  j.set("model", "unet");
  j.set("in_channels", c.in_channels);
  j.set("height", c.height);
  j.set("width", c.width);
  j.set("channels", c.channels);
  j.set("mult", mult);
  j.set("num_res", c.num_res);
  j.set("attn_res", attn);
  j.set("groups", c.groups);
  j.set("dropout", c.dropout);
  if (c.classes > 0) j.set("classes", c.classes);
  return j;
}

static int64_t json_int(const Json& j, const char* key) {
  const Json* v = j.find(key);
  if (!v || !v->is_number() || std::floor(v->as_number()) != v->as_number() || v->as_number() < 0)
    throw std::runtime_error(std::string("unet config: '") + key + "' must be a non-negative integer");
  return static_cast<int64_t>(v->as_number());
}

static std::vector<int64_t> json_ints(const Json& j, const char* key) {
  const Json* v = j.find(key);
  if (!v || !v->is_array()) throw std::runtime_error(std::string("unet config: '") + key + "' must be a list of integers");
  std::vector<int64_t> out;
  for (const Json& e : v->as_array()) {
    if (!e.is_number() || std::floor(e.as_number()) != e.as_number() || e.as_number() < 1)
      throw std::runtime_error(std::string("unet config: '") + key + "' must hold positive integers");
    out.push_back(static_cast<int64_t>(e.as_number()));
  }
  return out;
}

UNetConfig unet_config_from_json(const Json& j) {
  UNetConfig c;
  c.in_channels = json_int(j, "in_channels");
  c.height = json_int(j, "height");
  c.width = json_int(j, "width");
  c.channels = json_int(j, "channels");
  c.mult = json_ints(j, "mult");
  c.num_res = json_int(j, "num_res");
  c.attn_res = json_ints(j, "attn_res");
  c.groups = json_int(j, "groups");
  const Json* d = j.find("dropout");
  c.dropout = d && d->is_number() ? d->as_number() : 0.0;
  c.classes = j.find("classes") ? json_int(j, "classes") : 0;
  return c;
}

// ---- presets --------------------------------------------------------------------------------------

namespace {
struct Preset {
  const char* name;
  int64_t channels;
  std::vector<int64_t> mult;
  int64_t num_res;
  std::vector<int64_t> attn_res;
  int64_t groups;
};
// Shapes only (see unet.h for where each comes from); dropout is 0 in all, as in Table 3.
const std::vector<Preset>& presets() {
  static const std::vector<Preset> p = {
      {"tiny", 16, {1, 2}, 1, {}, 8},
      {"small", 32, {1, 2, 2}, 2, {8}, 8},
      {"fmnist", 32, {1, 2, 2}, 2, {7}, 8},
      {"cifar10", 256, {1, 2, 2, 2}, 2, {16}, 32},
      {"imagenet64", 192, {1, 2, 3, 4}, 3, {32, 16, 8}, 32},
  };
  return p;
}
}  // namespace

std::vector<std::string> unet_preset_names() {
  std::vector<std::string> names;
  for (const Preset& p : presets()) names.push_back(p.name);
  return names;
}

UNetConfig unet_preset(const std::string& name) {
  for (const Preset& p : presets()) {
    if (name != p.name) continue;
    UNetConfig c;
    c.channels = p.channels;
    c.mult = p.mult;
    c.num_res = p.num_res;
    c.attn_res = p.attn_res;
    c.groups = p.groups;
    c.dropout = 0.0;
    return c;
  }
  std::string names;
  for (const std::string& n : unet_preset_names()) names += (names.empty() ? "" : ", ") + n;
  throw std::runtime_error("unknown U-Net preset '" + name + "' (presets: " + names + ")");
}

// ---- the network ----------------------------------------------------------------------------
static void validate(const UNetConfig& c) {
  if (c.in_channels < 1 || c.channels < 1 || c.mult.empty() || c.num_res < 1 || c.groups < 1)
    throw std::runtime_error("unet config: channels, mult, num_res and groups must be positive");
  int64_t down = int64_t(1) << (c.mult.size() - 1);
  if (c.height % down || c.width % down)
    throw std::runtime_error("unet: " + std::to_string(c.height) + "x" + std::to_string(c.width) + " images cannot be halved " +
                             std::to_string(c.mult.size() - 1) + " times");
  for (int64_t m : c.mult)
    if ((c.channels * m) % c.groups) throw std::runtime_error("unet: channel counts must be multiples of --groups");
  if (!(c.dropout >= 0.0 && c.dropout < 1.0)) throw std::runtime_error("unet: dropout must be in [0, 1)");
}

UNetField::UNetField(const UNetConfig& c, Rng& rng)
    : config_((validate(c), c)),
      temb1_(c.channels, 4 * c.channels, rng),
      temb2_(4 * c.channels, 4 * c.channels, rng),
      stem_(c.in_channels, c.channels, 3, rng),
      out_norm_(c.groups, c.channels),
      out_conv_(c.channels, c.in_channels, 3, rng) {
  const int64_t E = 4 * c.channels, L = static_cast<int64_t>(c.mult.size());
  auto has_attn = [&](int64_t res) {
    for (int64_t r : c.attn_res)
      if (r == res) return true;
    return false;
  };
  std::vector<int64_t> skips{c.channels};
  int64_t h = c.channels, res = c.height;
  for (int64_t i = 0; i < L; ++i) {
    auto lvl = std::make_unique<Level>();
    for (int64_t j = 0; j < c.num_res; ++j) {
      lvl->res.emplace_back(h, c.channels * c.mult[i], E, c.groups, rng);
      h = c.channels * c.mult[i];
      if (has_attn(res)) lvl->attn.emplace_back(h, c.groups, rng);
      skips.push_back(h);
    }
    if (i + 1 < L) {
      lvl->resample = std::make_unique<Conv2d>(h, h, 3, rng, 2, 1);
      skips.push_back(h);
      res /= 2;
    }
    down_.push_back(std::move(lvl));
  }
  mid1_ = std::make_unique<ResBlock>(h, h, E, c.groups, rng);
  mid_attn_ = std::make_unique<AttnBlock>(h, c.groups, rng);
  mid2_ = std::make_unique<ResBlock>(h, h, E, c.groups, rng);
  for (int64_t i = L - 1; i >= 0; --i) {
    auto lvl = std::make_unique<Level>();
    for (int64_t j = 0; j <= c.num_res; ++j) {
      lvl->res.emplace_back(h + skips.back(), c.channels * c.mult[i], E, c.groups, rng);
      skips.pop_back();
      h = c.channels * c.mult[i];
      if (has_attn(res)) lvl->attn.emplace_back(h, c.groups, rng);
    }
    if (i > 0) {
      lvl->resample = std::make_unique<Conv2d>(h, h, 3, rng);
      res *= 2;
    }
    up_.push_back(std::move(lvl));
  }
  if (c.classes > 0) class_emb_ = std::make_unique<ClassEmbedding>(c.classes, E, rng);  // last: unconditional inits unchanged
}

UNetField::~UNetField() = default;

Var UNetField::forward(const Var& x, const Tensor& t, Rng* dropout) const {
  if (!class_emb_) return forward_impl(x, t, nullptr, dropout);
  return forward_impl(x, t, &null_onehot_.get(x.dim(0), config_.classes, class_emb_->weight.value().device()), dropout);
}

Var UNetField::forward_class(const Var& x, const Tensor& t, const Tensor& onehot, Rng* dropout) const {
  if (!class_emb_) return FieldModel::forward_class(x, t, onehot, dropout);
  if (onehot.ndim() != 2 || onehot.dim(0) != x.dim(0))
    throw std::runtime_error("unet: need one one-hot label row per sample, got " + shape_str(onehot.shape()));
  return forward_impl(x, t, &onehot, dropout);
}

Var UNetField::forward_impl(const Var& x, const Tensor& t, const Tensor* onehot, Rng* dropout) const {
  const UNetConfig& c = config_;
  if (x.ndim() != 4 || x.dim(1) != c.in_channels || x.dim(2) != c.height || x.dim(3) != c.width)
    throw std::runtime_error("unet expects x of shape [B, " + std::to_string(c.in_channels) + ", " + std::to_string(c.height) +
                             ", " + std::to_string(c.width) + "], got " + shape_str(x.shape()));
  if (t.numel() != x.dim(0)) throw std::runtime_error("unet: need one time per sample");
  Var temb = temb2_.forward(silu(temb1_.forward(timestep_embedding(t, static_cast<int>(c.channels)))));
  if (onehot) temb = add(temb, class_emb_->forward(*onehot));
  Var st = silu(temb);  // every ResBlock projects SiLU(temb)

  std::vector<Var> skips;
  Var h = stem_.forward(x);
  skips.push_back(h);
  for (const auto& lvl : down_) {
    for (size_t j = 0; j < lvl->res.size(); ++j) {
      h = lvl->res[j].forward(h, st, c.dropout, dropout);
      if (!lvl->attn.empty()) h = lvl->attn[j].forward(h);
      skips.push_back(h);
    }
    if (lvl->resample) {
      h = lvl->resample->forward(h);
      skips.push_back(h);
    }
  }
  h = mid1_->forward(h, st, c.dropout, dropout);
  h = mid_attn_->forward(h);
  h = mid2_->forward(h, st, c.dropout, dropout);
  for (const auto& lvl : up_) {
    for (size_t j = 0; j < lvl->res.size(); ++j) {
      h = lvl->res[j].forward(concat({h, skips.back()}, 1), st, c.dropout, dropout);
      skips.pop_back();
      if (!lvl->attn.empty()) h = lvl->attn[j].forward(h);
    }
    if (lvl->resample) h = lvl->resample->forward(upsample_nearest2x(h));
  }
  return out_conv_.forward(out_norm_.forward_silu(h));
}

void UNetField::collect(const std::string& prefix, std::vector<Param>& out) const {
  temb1_.collect(prefix + "time_embed.0.", out);
  temb2_.collect(prefix + "time_embed.2.", out);
  stem_.collect(prefix + "stem.", out);
  for (size_t i = 0; i < down_.size(); ++i) down_[i]->collect(prefix + "down." + std::to_string(i) + ".", out, "downsample");
  mid1_->collect(prefix + "mid.res1.", out);
  mid_attn_->collect(prefix + "mid.attn.", out);
  mid2_->collect(prefix + "mid.res2.", out);
  // Up levels are stored coarsest first; name them by resolution level like the down path.
  for (size_t i = 0; i < up_.size(); ++i)
    up_[i]->collect(prefix + "up." + std::to_string(up_.size() - 1 - i) + ".", out, "upsample");
  out_norm_.collect(prefix + "out_norm.", out);
  out_conv_.collect(prefix + "out_conv.", out);
  if (class_emb_) class_emb_->collect(prefix + "class_emb.", out);
}

}  // namespace fm
