// nn/unet.h: the small DDPM / guided-diffusion style U-Net, the default image vector field.
//
//   temb = Linear(4ch, 4ch) . SiLU . Linear(ch, 4ch) (sinusoid_ch(1000 t))
//   stem Conv3x3(in, ch) -> per level i (ch * mult[i] channels): num_res x [ResBlock (+ AttnBlock
//   at attn_res)], then Downsample (Conv3x3 stride 2) except after the last level; every stem,
//   block and Downsample output is pushed on a skip stack.
//   middle: ResBlock, AttnBlock, ResBlock
//   up: levels reversed, num_res + 1 ResBlocks on concat[h, skip.pop()] (+ attention), then
//   Upsample (nearest 2x, Conv3x3) except at level 0.
//   out: GroupNorm -> SiLU -> Conv3x3(ch, in)
// ResBlock(in, out): GN -> SiLU -> Conv3x3, + Linear(4ch, out)(SiLU(temb)) over H x W, GN -> SiLU
// -> Dropout -> Conv3x3, plus the skip (Conv1x1 when in != out).
// AttnBlock(C): GN -> Conv1x1(C, 3C) = q, k, v -> softmax(q^T k / sqrt(C)) over the H W positions
// -> Conv1x1(C, C) -> residual add.
// With K classes (fm train --conditional): temb += e_y, a class embedding [K + 1, 4ch]
// (nn/class_embedding.h, "class_emb"), before the SiLU that every ResBlock projects, as in the
// guided-diffusion U-Net.
// Defaults (ch 32, mult 1,2,2, num_res 2, attn_res 7, groups 8) give 1,623,169 parameters for
// 1 x 28 x 28; ch 16 gives 408,641.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "nn/class_embedding.h"
#include "nn/conv.h"
#include "nn/linear.h"

namespace fm {

struct UNetConfig {
  int64_t in_channels = 1, height = 28, width = 28;
  int64_t channels = 32;
  std::vector<int64_t> mult{1, 2, 2};
  int64_t num_res = 2;
  std::vector<int64_t> attn_res{7};
  int64_t groups = 8;
  double dropout = 0.0;
  int64_t classes = 0;  // class-conditional with this many classes (0: unconditional)
};

// Named U-Net shapes (`fm train --preset NAME`): channels, mult, num_res, attn_res, groups and
// dropout; the image shape stays the caller's to set.
//   tiny     ch 16, mult 1,2, 1 block, no attention, 8 groups: seconds on a CPU (tests, trials)
//   small    ch 32, mult 1,2,2, 2 blocks, attention at 8x8, 8 groups: a CPU-sized 32x32 model
//   fmnist   the defaults above (ch 32, mult 1,2,2, 2 blocks, attention at 7x7)
//   cifar10  Lipman et al. 2022, Table 3, CIFAR-10: ch 256, mult 1,2,2,2, 2 blocks, attention at
//            16x16, dropout 0; 32 groups as in the ADM U-Net the paper builds on. (The paper's
//            attention has 4 heads of 64 channels; ours has one head.)
//   imagenet64  Table 3, ImageNet-64: ch 192, mult 1,2,3,4, 3 blocks, attention at 32, 16, 8.
// Throws, listing the names, for an unknown one.
UNetConfig unet_preset(const std::string& name);
std::vector<std::string> unet_preset_names();

Json unet_config_json(const UNetConfig& c);
UNetConfig unet_config_from_json(const Json& j);  // throws on missing or invalid fields

class UNetField : public FieldModel {
 public:
  UNetField(const UNetConfig& config, Rng& rng);
  ~UNetField() override;
  Var forward(const Var& x, const Tensor& t, Rng* dropout = nullptr) const override;
  int64_t num_classes() const override { return config_.classes; }
  Var forward_class(const Var& x, const Tensor& t, const Tensor& onehot, Rng* dropout = nullptr) const override;
  Json config() const override { return unet_config_json(config_); }
  void collect(const std::string& prefix, std::vector<Param>& out) const override;

  struct ResBlock;
  struct AttnBlock;
  struct Level;

 private:
  UNetConfig config_;
  Linear temb1_, temb2_;
  Conv2d stem_;
  std::vector<std::unique_ptr<Level>> down_, up_;
  std::unique_ptr<ResBlock> mid1_, mid2_;
  std::unique_ptr<AttnBlock> mid_attn_;
  GroupNorm out_norm_;
  Conv2d out_conv_;
  std::unique_ptr<ClassEmbedding> class_emb_;  // with classes
  NullOnehotCache null_onehot_;

  Var forward_impl(const Var& x, const Tensor& t, const Tensor* onehot, Rng* dropout) const;
};

}  // namespace fm
