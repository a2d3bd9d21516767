// tensor/cpu/conv_winograd.cpp: the weight transform, the blocks and the dispatch rule of the
// Winograd F(4x2, 3x3) convolution (conv_winograd.h); the vector code is in conv_winograd_x86.cpp.
#include "tensor/cpu/conv_winograd.h"

#include <algorithm>
#include <atomic>
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

// The pieces; not reached where the x86 kernels are not built in (suits() says no). The
// transforms go over one sample's bands th0 <= th < th1: images up to kNarrow columns wide with
// two bands per vector (conv_winograd_x86.cpp, narrow_columns), wider ones in chunks of 16 tiles
// of a band (the last chunk first, as its stores run past the band into the first chunk of the
// next one). v, m point at the first band's first tile, bands TW tiles apart.
constexpr int64_t kNarrow = 16;
// F(4 x 2, 3 x 3): bands of 4 output rows, transforms of 6 x 4 = 24 positions.
constexpr int kRows = 4, kPositions = 24;

// The two ways over a band range that the input transform and the output transform's adjoint
// share: narrow() once, or wide(tw0, TW) per chunk of 16 tiles, the last chunk first.
template <class Narrow, class Wide>
void over_bands(int64_t W, const Narrow& narrow, const Wide& wide) {
  if (W <= kNarrow) return narrow();
  const int64_t TW = (W + 1) / 2;
  for (int64_t tw0 = (TW - 1) / 16 * 16; tw0 >= 0; tw0 -= 16) wide(tw0, TW);
}

void input_transform(const float* x, int64_t C, int64_t H, int64_t W, int64_t th0, int64_t th1, float* v,
                     int64_t ldv, int64_t ldxi) {
  if constexpr (kHaveX86Kernels)
    over_bands(
        W, [&] { x86::winograd_input_narrow_avx512(x, C, H, W, th0, th1, v, ldv, ldxi); },
        [&](int64_t tw0, int64_t TW) {
          x86::winograd_input_avx512(x, C, H, W, th0, th1, tw0, v + tw0, TW, ldv, ldxi);
        });
  else
    throw std::logic_error("WinogradConv: this build has no AVX-512 kernels");
}
void product(int64_t O, int64_t C, const float* u, const float* v, int64_t ldv, int64_t n, float* m, int64_t ldm) {
  if constexpr (kHaveX86Kernels)
    x86::winograd_product_avx512(O, C, u, v, ldv, n, m, ldm);
  else
    throw std::logic_error("WinogradConv: this build has no AVX-512 kernels");
}
void output_transform(const float* m, int64_t ldm, int64_t ldxi, int64_t O, int64_t H, int64_t W, int64_t th0,
                      int64_t th1, const float* bias, const float* sample_bias, const float* residual, float* y,
                      bool accumulate) {
  if constexpr (kHaveX86Kernels) {
    const int64_t TW = (W + 1) / 2;
    if (W <= kNarrow) {
      for (int64_t th = th0; th < th1; th += 2)
        x86::winograd_output_narrow_avx512(m + (th - th0) * TW, ldm, ldxi, O, H, W, th,
                                           int(std::min<int64_t>(2, th1 - th)), bias, sample_bias, residual, y,
                                           accumulate);
      return;
    }
    for (int64_t th = th0; th < th1; ++th)
      for (int64_t tw0 = 0; tw0 < TW; tw0 += 16)
        x86::winograd_output_avx512(m + (th - th0) * TW + tw0, ldm, ldxi, O, H, W, th, tw0,
                                    int(std::min<int64_t>(16, TW - tw0)), bias, sample_bias, residual, y, accumulate);
  } else {
    throw std::logic_error("WinogradConv: this build has no AVX-512 kernels");
  }
}

void output_adjoint(const float* dy, int64_t O, int64_t H, int64_t W, int64_t th0, int64_t th1, float* m, int64_t ldm,
                    int64_t ldxi) {
  if constexpr (kHaveX86Kernels)
    over_bands(
        W, [&] { x86::winograd_output_adjoint_narrow_avx512(dy, O, H, W, th0, th1, m, ldm, ldxi); },
        [&](int64_t tw0, int64_t TW) {
          x86::winograd_output_adjoint_avx512(dy, O, H, W, th0, th1, tw0, m + tw0, TW, ldm, ldxi);
        });
  else
    throw std::logic_error("WinogradWeightGrad: this build has no AVX-512 kernels");
}
void transpose(const float* v, int64_t C, int64_t ldv, int64_t n, float* vt, int64_t ldt) {
  if constexpr (kHaveX86Kernels)
    x86::winograd_transpose_avx512(v, C, ldv, n, vt, ldt);
  else
    throw std::logic_error("WinogradWeightGrad: this build has no AVX-512 kernels");
}
// The bands [band0, band1) of a batch with TH bands per sample, cut at sample boundaries:
// f(b, th0, th1, offset) for each run of one sample's bands th0 .. th1, offset = its first band
// minus band0.
template <class F>
void for_each_run(int64_t band0, int64_t band1, int64_t TH, const F& f) {
  for (int64_t band = band0; band < band1;) {
    const int64_t b = band / TH, th0 = band % TH, th1 = std::min(TH, th0 + band1 - band);
    f(b, th0, th1, band - band0);
    band += th1 - th0;
  }
}

// Whether the kernels can run here (AVX-512, sgemm not forced to another set, not forced off) for
// the convolution s (3x3, stride 1, pad 1, output the size of the input).
bool possible(const Conv2dShape& s) {
  if (!kHaveX86Kernels || g_forced.load() == 0 || !gemm_detail::avx512_active()) return false;
  return s.k == 3 && s.stride == 1 && s.pad == 1 && s.Ho == s.H && s.Wo == s.W;
}

}  // namespace

void winograd_grad_product(int64_t O, int64_t Cp, int64_t n, const float* dm, int64_t ldm, const float* vt, int64_t ldt,
                           float* out, int64_t ldo, bool first) {
  if constexpr (kHaveX86Kernels)
    x86::winograd_grad_product_avx512(O, Cp, n, dm, ldm, vt, ldt, out, ldo, first);
  else
    throw std::logic_error("winograd_grad_product: this build has no AVX-512 kernels");
}

void WinogradConv::force(int mode) { g_forced.store(mode); }

bool WinogradConv::suits(const Conv2dShape& s) {
  if (!possible(s)) return false;
  if (g_forced.load() == 1) return true;
  // Measured at 2 threads against the direct kernels, forward and dx at B = 64 (time ratio
  // direct / Winograd): 1.2-2.0 at 28 x 28 and 14 x 14 for C, O = 16 to 128, and 1.2-1.5 for O = 1
  // with C = 16 or 32 (the U-Net's output convolution); 0.45-0.8 for C = 1 (the stem's forward
  // pass, the output convolution's dx), where the input transform is all the work. At 7 x 7 the
  // tiles cover 64 pixels for 49. With a band per vector (4 of 16 lanes busy in the transforms)
  // that measured 1.0-1.15 for C, O >= 64 but 0.85-0.95 for C, O = 32 to 64 with min 32; with two
  // bands per vector (narrow images, kNarrow), on Zen 4: 1.2 for C = O = 32 and C 64 -> O 32,
  // 1.1 for C 16 -> O 32 and C 32 -> O 16, 1.0 for C, O >= 64, but 0.6 for C = O = 16 and 0.8
  // at 5 x 5 (tiles cover 36 pixels for 25). Hence: C >= 16, and tiles that waste under 15 %,
  // channels >= 64 on both sides, or, on narrow images, under a third wasted and C + O >= 48.
  // (Measured with F(2 x 2) tiles; with F(4 x 2) forward tiles, spot checks kept the choices: at
  // 7 x 7, C = O = 32, 0.29 ms against the direct kernels' 0.38; at 5 x 5, 0.27 against 0.20.)
  const int64_t tiled = (s.H + 1) / 2 * 2 * ((s.W + 1) / 2 * 2), pixels = s.H * s.W;
  const bool narrow_enough = s.W <= kNarrow && tiled * 100 <= pixels * 131 && s.C + s.O >= 48;
  return s.C >= 16 && (tiled * 100 <= pixels * 115 || std::min(s.C, s.O) >= 64 || narrow_enough);
}

WinogradConv::WinogradConv(const Conv2dShape& s, const float* w)
    : B_(s.B), C_(s.C), O_(s.O), H_(s.H), W_(s.W), TH_((s.H + kRows - 1) / kRows), TW_((s.W + 1) / 2) {
  bands_per_block_ = std::max<int64_t>(1, kBlockFloats / (kPositions * (C_ + O_) * TW_));
  // U[xi][o / 8][c][o % 8] = (G4 g G2^T)[xi] of g = w[o, c], xi = 4 i + j for row i < 6 and column
  // j < 4; zero for the rows past O in the last tile.
  const int64_t tiles = (O_ + kMR - 1) / kMR, per_xi = tiles * C_ * kMR;
  u_.assign(kPositions * per_xi, 0.0f);
  for (int64_t o = 0; o < O_; ++o)
    for (int64_t c = 0; c < C_; ++c) {
      const float* g = w + (o * C_ + c) * 9;  // g[3 i + j]
      float gg[6][3];                          // G4 g: rows 0..5, columns j
      for (int j = 0; j < 3; ++j) {
        const float g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
        gg[0][j] = g0 / 4;
        gg[1][j] = -(g0 + g1 + g2) / 6;
        gg[2][j] = -(g0 - g1 + g2) / 6;
        gg[3][j] = g0 / 24 + g1 / 12 + g2 / 6;
        gg[4][j] = g0 / 24 - g1 / 12 + g2 / 6;
        gg[5][j] = g2;
      }
      for (int i = 0; i < 6; ++i) {  // (G4 g) G2^T, row i
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
    float* v = thread_scratch(kPositions * (vxi + mxi));  // V [24][C][ld]
    float* m = v + kPositions * vxi;                      // M [24][O][ld]
    // The input transform, one sample's bands at a time (in order: see the pieces above).
    for_each_run(band0, band1, TH_, [&](int64_t b, int64_t th0, int64_t th1, int64_t first) {
      input_transform(x + b * C_ * HW, C_, H_, W_, th0, th1, v + first * TW_, ld, vxi);
    });
    for (int xi = 0; xi < kPositions; ++xi)
      product(O_, C_, u_.data() + xi * per_xi, v + xi * vxi, ld, tiles, m + xi * mxi, ld);
    for_each_run(band0, band1, TH_, [&](int64_t b, int64_t th0, int64_t th1, int64_t first) {
      output_transform(m + first * TW_, ld, mxi, O_, H_, W_, th0, th1, bias, sample_bias ? sample_bias + b * O_ : nullptr,
                       residual ? residual + b * O_ * HW : nullptr, y + b * O_ * HW, accumulate);
    });
  });
}

// Measured at 2 threads, B = 64 (direct / Winograd time): 1.15-1.9 for C, O = 16 to 128 at 28 x 28
// and 14 x 14, and 1.5-1.8 at 7 x 7 too (unlike the forward pass: the direct weight gradient is
// slow there); but 0.7-0.85 with O = 1 (the output convolution) or C = 1 (the stem), where a
// transform is most of the work. Hence C, O >= 16.
bool WinogradWeightGrad::suits(const Conv2dShape& s) {
  return possible(s) && (g_forced.load() == 1 || (s.C >= 16 && s.O >= 16));
}

WinogradWeightGrad::WinogradWeightGrad(const Conv2dShape& s)
    : B_(s.B), C_(s.C), O_(s.O), H_(s.H), W_(s.W), TH_((s.H + kRows - 1) / kRows), TW_((s.W + 1) / 2),
      Cp_((s.C + 15) / 16 * 16) {
  // V, its transpose and dM of a block together within kBlockFloats, as in the forward pass.
  bands_per_block_ = std::max<int64_t>(1, kBlockFloats / (kPositions * (C_ + Cp_ + O_) * TW_));
  blocks_ = (B_ * TH_ + bands_per_block_ - 1) / bands_per_block_;
  // Groups: at most 8, and at most 4 Mi floats of partials.
  groups_ = std::clamp<int64_t>((int64_t(4) << 20) / (kPositions * O_ * Cp_), 1, std::min<int64_t>(blocks_, 8));
}

void WinogradWeightGrad::run(const float* x, const float* dy, float* dw, float beta) const {
  constexpr int P = kPositions;
  const int64_t HW = H_ * W_, part_size = P * O_ * Cp_;  // a partial: dU [P][O][Cp]
  if (blocks_ == 0) {  // no samples: the gradient of a sum over nothing
    if (beta == 0.0f) std::fill(dw, dw + O_ * C_ * 9, 0.0f);
    return;
  }
  thread_local std::vector<float> parts;  // [groups][P][O][Cp], grow-only
  if (int64_t(parts.size()) < groups_ * part_size) parts.resize(groups_ * part_size);
  float* part = parts.data();
  run_tasks(groups_, [&](int64_t g) {
    for (int64_t blk = blocks_ * g / groups_; blk < blocks_ * (g + 1) / groups_; ++blk) {
      const int64_t band0 = blk * bands_per_block_, band1 = std::min(B_ * TH_, band0 + bands_per_block_);
      const int64_t tiles = (band1 - band0) * TW_, ld = (tiles + 30) / 16 * 16;  // as in the forward pass
      const int64_t vxi = C_ * ld + 16, mxi = O_ * ld + 16, txi = tiles * Cp_ + 16;
      float* v = thread_scratch(P * (vxi + mxi + txi));  // V [P][C][ld]
      float* m = v + P * vxi;                            // dM [P][O][ld]
      float* vt = m + P * mxi;                           // V^T [P][tiles][Cp]
      for_each_run(band0, band1, TH_, [&](int64_t b, int64_t th0, int64_t th1, int64_t first) {
        input_transform(x + b * C_ * HW, C_, H_, W_, th0, th1, v + first * TW_, ld, vxi);
        output_adjoint(dy + b * O_ * HW, O_, H_, W_, th0, th1, m + first * TW_, ld, mxi);
      });
      const bool first = blk == blocks_ * g / groups_;
      for (int xi = 0; xi < P; ++xi) {
        transpose(v + xi * vxi, C_, ld, tiles, vt + xi * txi, Cp_);
        winograd_grad_product(O_, Cp_, tiles, m + xi * mxi, ld, vt + xi * txi, Cp_, part + g * part_size + xi * O_ * Cp_, Cp_, first);
      }
    }
  });
  // dU = the partials in group order (into the first one, a row [Cp] at a time), then
  // dw = G4^T dU G2 per (o, c).
  parallel_for(O_, grain_for(P * Cp_ * groups_ + 96 * C_), [&](int64_t lo, int64_t hi) {
    for (int64_t o = lo; o < hi; ++o) {
      for (int xi = 0; xi < P; ++xi) {
        float* sum = part + (xi * O_ + o) * Cp_;
        for (int64_t g = 1; g < groups_; ++g) {
          const float* add = sum + g * part_size;
          for (int64_t c = 0; c < Cp_; ++c) sum[c] += add[c];
        }
      }
      for (int64_t c = 0; c < C_; ++c) {
        float du[6][4];
        for (int xi = 0; xi < P; ++xi) du[xi / 4][xi % 4] = part[(xi * O_ + o) * Cp_ + c];
        float rows[3][4];  // G4^T dU: G4's columns are (1/4, -1/6, -1/6, 1/24, 1/24, 0),
        for (int j = 0; j < 4; ++j) {  // (0, -1/6, 1/6, 1/12, -1/12, 0), (0, -1/6, -1/6, 1/6, 1/6, 1)
          const float s12 = du[1][j] + du[2][j], d12 = du[2][j] - du[1][j];
          const float s34 = du[3][j] + du[4][j], d34 = du[3][j] - du[4][j];
          rows[0][j] = du[0][j] / 4 - s12 / 6 + s34 / 24;
          rows[1][j] = d12 / 6 + d34 / 12;
          rows[2][j] = -s12 / 6 + s34 / 6 + du[5][j];
        }
        // G2^T maps a 4-vector u to (u0 + (u1 + u2) / 2, (u1 - u2) / 2, (u1 + u2) / 2 + u3).
        float* out = dw + (o * C_ + c) * 9;
        for (int i = 0; i < 3; ++i) {  // (G4^T dU) G2, row i
          const float r[3] = {rows[i][0] + 0.5f * (rows[i][1] + rows[i][2]), 0.5f * (rows[i][1] - rows[i][2]),
                              0.5f * (rows[i][1] + rows[i][2]) + rows[i][3]};
          for (int j = 0; j < 3; ++j) out[3 * i + j] = beta == 0.0f ? r[j] : out[3 * i + j] + r[j];
        }
      }
    }
  });
}

}  // namespace fm::cpu
