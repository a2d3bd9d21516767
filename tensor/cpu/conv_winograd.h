// tensor/cpu/conv_winograd.h: 3x3 "same" convolutions (stride 1, pad 1) by Winograd's minimal
// filtering F(4x2, 3x3) (Lavin & Gray 2016), for the CPU backend (internal to tensor/; see
// conv.cpp).
//
// In one dimension, two outputs of a 3-tap correlation, y_i = sum_k d_{i+k} g_k (i = 0, 1), come
// from four inputs d_0..d_3 with four multiplications instead of six:
//
//   y = A^T [ (G g) * (B^T d) ]          (* elementwise)
//
//         | 1  0 -1  0 |         | 1    0    0  |
//   B^T = | 0  1  1  0 |     G = | 1/2  1/2  1/2 |     A^T = | 1  1  1  0 |
//         | 0 -1  1  0 |         | 1/2 -1/2  1/2 |           | 0  1 -1 -1 |
//         | 0  1  0 -1 |         | 0    0    1  |
//
// Nested for two dimensions (F(2 x 2, 3 x 3), the simplest case; the code uses taller tiles, below),
// a 2 x 2 output tile reads a 4 x 4 input tile d (the tiles overlap: they
// start every 2 pixels, one pixel up and left of their outputs, and read zeros outside the image):
//
//   U[o, c]    = G g[o, c] G^T           (4 x 4, once per call: the weights are shared by all tiles)
//   V[c, t]    = B^T d[c, t] B           (4 x 4 per input channel c and tile t)
//   M[xi]      = U[xi] @ V[xi]           for each of the 16 positions xi of the 4 x 4 transforms:
//                                        16 matrix products [O, C] @ [C, T]
//   y[o, t]    = A^T M[o, t] A           (2 x 2 outputs per output channel and tile)
//
// Taller tiles for the forward pass and dx: F(4 x 2, 3 x 3). Four outputs of the correlation come
// from six inputs with six multiplications (F(4, 3), interpolation points 0, 1, -1, 2, -2, inf):
//
//          | 4  0 -5  0  1  0 |          |  1/4    0     0   |
//          | 0 -4 -4  1  1  0 |          | -1/6  -1/6  -1/6  |          | 1  1  1  1  1  0 |
//   B4^T = | 0  4 -4 -1  1  0 |    G4 =  | -1/6   1/6  -1/6  |   A4^T = | 0  1 -1  2 -2  0 |
//          | 0 -2 -1  2  1  0 |          |  1/24  1/12  1/6  |          | 0  1  1  4  4  0 |
//          | 0  2 -1 -2  1  0 |          |  1/24 -1/12  1/6  |          | 0  1 -1  8 -8  1 |
//          | 0  4  0 -5  0  1 |          |  0     0     1    |
//
// Both classes below use it down the rows and F(2, 3) along them: a tile is 4 output rows by 2
// columns from 6 x 4 inputs, U = G4 g G2^T, V = B4^T d B2, y = A4^T M A2, with 24 positions
// xi = 4 i + j (i < 6 rows, j < 4 columns): 24 multiply-adds per channel pair for 8 outputs, 3 per
// output against F(2 x 2)'s 4 (the products are most of the work, and measured at their limit).
// The columns keep F(2, 3) so that a band of tiles still has a tile every 2 columns, 16 to a
// vector (F(4 x 4)'s would start every 4 columns: 7 tiles to a band at 28 x 28). F(4, 3)'s larger
// coefficients cost accuracy: 1.1-1.7e-6 relative error in the tests against 3-5e-7 for F(2 x 2).
// Measured on Zen 4 against F(2 x 2): a U-Net ch16 training step 4 % (forward and dx) and then
// 2 % (dW) faster.
//
// Why it is faster: a tile's 4 outputs cost 16 O C multiply-adds in the products, against
// 36 O C for the direct convolution, 2.25x fewer (F(4 x 2): 24 for 8 outputs, 3x fewer). The transforms are additions only: B^T d B is
// 32 adds per (c, tile) and A^T M A 24 per (o, tile), so against the 16 O (resp. 16 C) FMAs of the
// products each input (output) element meets, they cost about 2 / O (1.5 / C) of the work: small
// for the U-Net's 32 to 192 channels, but not for the 1-channel stem or output convolution, which
// keep the direct kernels (WinogradConv::suits). The price is accuracy: the transforms mix
// inputs before the multiplications (G has 1/2s, B^T and A^T sums of up to 3 terms), so rounding
// errors grow by a small constant factor over the direct sum (measured in tests/test_image_ops.cpp).
//
// The loops. The B H W tiles are cut into "bands" (one sample's row of tiles, th fixed) and the bands
// into blocks of a fixed count, each block one task: its V [P][C][Tb] and M [P][O][Tb] (Tb tiles,
// P = 24 or 16 positions) are sized to stay in the L2 cache. Per block: the input transform (16
// tiles of a band at a time, one tile per vector lane; two bands of up to 8 tiles for images up to
// 16 columns wide), the P products (register tiles of 8 output channels by 16 NV tiles, summing
// over c in order), then the output transform, which adds the bias, residual or
// earlier contents of y. Every output is one fixed sequence of operations whatever the block or
// thread that computes it: the same bits for any thread count. AVX-512 only (the vector code is in
// conv_winograd_x86.cpp); elsewhere conv.cpp keeps its other paths.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/cpu/kernels.h"

namespace fm::cpu {

// F(4 x 2, 3 x 3): the forward pass, and dx as the same kind of convolution.
class WinogradConv {
 public:
  // Whether to use it for the convolution s: a 3x3 "same" one (stride 1, pad 1), AVX-512 and
  // the sgemm kernels not forced to another set, and (unless forced) channel counts where it
  // measured faster than the direct kernels (see conv_winograd.cpp).
  static bool suits(const Conv2dShape& s);
  // Test and benchmark hook: 0 never, 1 always (any such convolution on AVX-512), -1 the rule.
  static void force(int mode);

  // For the convolution s with weights w [O, C, 3, 3]; transforms and packs them.
  WinogradConv(const Conv2dShape& s, const float* w);
  // y [B, O, H, W] = conv(x [B, C, H, W]) + the addends: bias [O], sample_bias [B, O], residual
  // [B, O, H, W] (each may be null), plus what y held when accumulate. Runs in parallel over blocks.
  void run(const float* x, float* y, const float* bias, const float* sample_bias, const float* residual,
           bool accumulate) const;

 private:
  int64_t B_, C_, O_, H_, W_, TH_, TW_;  // TH x TW tiles (4 rows x 2 columns of outputs) per image
  int64_t bands_per_block_;
  std::vector<float> u_;  // [24][ceil(O / 8)][C][8]: U[xi] packed for the register tiles
};

// The weight gradient by the same transforms. M = U V per position xi, so
//
//   dU[xi][o, c] = sum_t dM[xi][o, t] V[xi][c, t]     with dM = A4 dY A2^T per (o, tile), 6 x 4
//                                                     from the tile's 4 x 2 output gradients dY,
//   dw[o, c]     = G4^T dU[o, c] G2                   (3 x 3 from 6 x 4),
//
// 24 products [O, T] @ [T, C] summed over all B H W / 8 tiles. The blocks are those of the forward
// pass; a fixed number of groups of consecutive blocks (a function of the shape) each sum their
// blocks in order into a partial dU, and the partials are added in group order: the same bits for
// any thread count. Per block, V is transposed to [T][C] so that the products keep input channels
// in vector lanes and sum over tiles in registers (as DirectWeightGrad does over pixels). (Reusing
// one L1-sized buffer for the transpose of each position in turn measured no faster in a step.)
class WinogradWeightGrad {
 public:
  // Whether to use it for s: WinogradConv::suits's conditions and force hook, with its own rule
  // measured for this pass (conv_winograd.cpp).
  static bool suits(const Conv2dShape& s);
  explicit WinogradWeightGrad(const Conv2dShape& s);
  // dw [O, C, 3, 3] = (beta 0) or += (beta 1) the weight gradient of y = conv(x, w) for x [B, C, H, W]
  // and dy [B, O, H, W].
  void run(const float* x, const float* dy, float* dw, float beta) const;

 private:
  int64_t B_, C_, O_, H_, W_, TH_, TW_, Cp_;  // Cp: C rounded up to 16
  int64_t bands_per_block_, blocks_, groups_;
};

// out [O][ldo] (+)= dm [O][n] (rows ldm apart) @ vt [n][Cp] (rows ldt apart), Cp a multiple of 16,
// overwritten when first: the weight gradient's register tiles, output channels broadcast from
// dm's rows and input channels in lanes. The tiles read dm in whole tiles of 8 or 16 rows: rows
// past O must be readable (they only feed outputs that are not stored). AVX-512 only (where WinogradWeightGrad::suits or
// DirectWeightGrad::suits says yes); DirectWeightGrad uses it for 1x1 convolutions.
void winograd_grad_product(int64_t O, int64_t Cp, int64_t n, const float* dm, int64_t ldm, const float* vt, int64_t ldt,
                           float* out, int64_t ldo, bool first);

}  // namespace fm::cpu
