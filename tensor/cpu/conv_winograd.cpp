// tensor/cpu/conv_winograd.cpp: the weight transform, the blocks and the dispatch rule of the
// Winograd F(2x2, 3x3) convolution (conv_winograd.h); the vector code is in conv_winograd_x86.cpp.
#include "tensor/cpu/conv_winograd.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <stdexcept>

#include "tensor/cpu/cpu_features.h"
#include "tensor/cpu/gemm_kernels.h"
#include "tensor/cpu/parallel.h"
#include "tensor/cpu/x86_kernels.h"

namespace fm::cpu {

namespace {

std::atomic<int> g_forced{-1};  // -1: the rule; 0: never; 1: always

constexpr int64_t kMR = 8;  // output channels per register tile (conv_winograd_x86.cpp)
// V and M of one block together, in floats: 512 KiB, half the L2 cache of one core here.
constexpr int64_t kBlockFloats = int64_t(1) << 17;

// The three pieces; not reached where the x86 kernels are not built in (suits() says no).
void input_transform(const float* x, int64_t C, int64_t H, int64_t W, int64_t th0, int64_t th1, int64_t tw0, float* v,
                     int64_t ldb, int64_t ldv, int64_t ldxi) {
  if constexpr (kHaveX86Kernels)
    x86::winograd_input_avx512(x, C, H, W, th0, th1, tw0, v, ldb, ldv, ldxi);
  else
    throw std::logic_error("WinogradConv: this build has no AVX-512 kernels");
}
void product(int64_t O, int64_t C, const float* u, const float* v, int64_t ldv, int64_t n, float* m, int64_t ldm) {
  if constexpr (kHaveX86Kernels)
    x86::winograd_product_avx512(O, C, u, v, ldv, n, m, ldm);
  else
    throw std::logic_error("WinogradConv: this build has no AVX-512 kernels");
}
void output_transform(const float* m, int64_t ldm, int64_t ldxi, int64_t O, int64_t H, int64_t W, int64_t th,
                      int64_t tw0, int n, const float* bias, const float* sample_bias, const float* residual, float* y,
                      bool accumulate) {
  if constexpr (kHaveX86Kernels)
    x86::winograd_output_avx512(m, ldm, ldxi, O, H, W, th, tw0, n, bias, sample_bias, residual, y, accumulate);
  else
    throw std::logic_error("WinogradConv: this build has no AVX-512 kernels");
}

}  // namespace

void WinogradConv::force(int mode) { g_forced.store(mode); }

bool WinogradConv::suits(const Conv2dShape& s) {
  const int forced = g_forced.load();
  if (!kHaveX86Kernels || !cpu_features().avx512f || forced == 0 ||
      std::strcmp(gemm_detail::active_kernels().name, "avx512") != 0)
    return false;
  if (s.k != 3 || s.stride != 1 || s.pad != 1 || s.Ho != s.H || s.Wo != s.W) return false;
  if (forced == 1) return true;
  // Measured at 2 threads against the direct kernels, forward and dx at B = 64 (time ratio
  // direct / Winograd): 1.3-2.5 at 28 x 28 and 14 x 14 for C, O = 16 to 128, and for O = 1 with
  // C = 16 or 32 (the U-Net's output convolution); 0.4-0.8 for C = 1 (the stem's forward pass, the
  // output convolution's dx), where the input transform is all the work. At 7 x 7 the 4 x 4 tiles
  // cover 64 pixels for 49 (and fill 4 of the 16 lanes of the transforms): 1.2 for C, O >= 64, but
  // 0.8-0.95 for C, O = 32 to 64 with min 32. Hence: C >= 16, and tiles that waste under 15 % or
  // channels >= 64 on both sides.
  const int64_t tiled = (s.H + 1) / 2 * 2 * ((s.W + 1) / 2 * 2);
  return s.C >= 16 && (tiled * 100 <= s.H * s.W * 115 || std::min(s.C, s.O) >= 64);
}

WinogradConv::WinogradConv(const Conv2dShape& s, const float* w)
    : B_(s.B), C_(s.C), O_(s.O), H_(s.H), W_(s.W), TH_((s.H + 1) / 2), TW_((s.W + 1) / 2) {
  bands_per_block_ = std::max<int64_t>(1, kBlockFloats / (16 * (C_ + O_) * TW_));
  // U[xi][o / 8][c][o % 8] = (G g G^T)[xi] of g = w[o, c], zero for the rows past O in the last tile.
  const int64_t tiles = (O_ + kMR - 1) / kMR, per_xi = tiles * C_ * kMR;
  u_.assign(16 * per_xi, 0.0f);
  for (int64_t o = 0; o < O_; ++o)
    for (int64_t c = 0; c < C_; ++c) {
      const float* g = w + (o * C_ + c) * 9;  // g[3 i + j]
      float gg[4][3];                          // G g: rows 0..3, columns j
      for (int j = 0; j < 3; ++j) {
        gg[0][j] = g[j];
        gg[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
        gg[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
        gg[3][j] = g[6 + j];
      }
      for (int i = 0; i < 4; ++i) {  // (G g) G^T, row i
        const float r[4] = {gg[i][0], 0.5f * (gg[i][0] + gg[i][1] + gg[i][2]), 0.5f * (gg[i][0] - gg[i][1] + gg[i][2]),
                            gg[i][2]};
        for (int j = 0; j < 4; ++j) u_[(4 * i + j) * per_xi + ((o / kMR) * C_ + c) * kMR + o % kMR] = r[j];
      }
    }
}

void WinogradConv::run(const float* x, float* y, const float* bias, const float* sample_bias, const float* residual,
                       bool accumulate) const {
  const int64_t bands = B_ * TH_, blocks = (bands + bands_per_block_ - 1) / bands_per_block_;
  const int64_t per_xi = (O_ + kMR - 1) / kMR * C_ * kMR, HW = H_ * W_;
  if (blocks == 0) return;  // no samples
  run_tasks(blocks, [&](int64_t blk) {
    const int64_t band0 = blk * bands_per_block_, band1 = std::min(bands, band0 + bands_per_block_);
    // Tile t of the block is tile (band - band0) TW + tw. Rows of V and M are ld floats: room for
    // the input transform's 16-lane stores past the last tile. The positions xi are a cache line
    // more than whole rows apart, so that the 16 streams of a transform do not share cache sets.
    const int64_t tiles = (band1 - band0) * TW_, ld = (tiles + 30) / 16 * 16;
    const int64_t vxi = C_ * ld + 16, mxi = O_ * ld + 16;
    float* v = thread_scratch(16 * (vxi + mxi));  // V [16][C][ld]
    float* m = v + 16 * vxi;                      // M [16][O][ld]
    // The input transform, one sample's bands at a time; the last chunk of 16 tiles first, as its
    // stores run past the band into the first chunk of the next one.
    for (int64_t band = band0; band < band1;) {
      const int64_t b = band / TH_, th0 = band % TH_, th1 = std::min(TH_, th0 + band1 - band);
      for (int64_t tw0 = (TW_ - 1) / 16 * 16; tw0 >= 0; tw0 -= 16)
        input_transform(x + b * C_ * HW, C_, H_, W_, th0, th1, tw0, v + (band - band0) * TW_ + tw0, TW_, ld, vxi);
      band += th1 - th0;
    }
    for (int xi = 0; xi < 16; ++xi) product(O_, C_, u_.data() + xi * per_xi, v + xi * vxi, ld, tiles, m + xi * mxi, ld);
    for (int64_t band = band0; band < band1; ++band) {  // the output transform, 16 tiles at a time
      const int64_t b = band / TH_, th = band % TH_;
      for (int64_t tw0 = 0; tw0 < TW_; tw0 += 16)
        output_transform(m + (band - band0) * TW_ + tw0, ld, mxi, O_, H_, W_, th, tw0, int(std::min<int64_t>(16, TW_ - tw0)),
                         bias, sample_bias ? sample_bias + b * O_ : nullptr, residual ? residual + b * O_ * HW : nullptr,
                         y + b * O_ * HW, accumulate);
    }
  });
}

}  // namespace fm::cpu
