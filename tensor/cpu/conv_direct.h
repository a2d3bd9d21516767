// tensor/cpu/conv_direct.h: a "same" convolution computed by register-tiled kernels that read the
// image directly (internal to tensor/; see conv.cpp).
//
// The implicit GEMM (conv_pack.h) still copies each column-matrix panel into a packed buffer,
// and with a convolution's few output channels every packed float feeds only M = O multiply-adds
// per lane: measured, the copy cost 30-45 % of the time at O = 16-32. Here the kernel loads the
// column-matrix rows itself, with the same lane masks, and never stores them:
//
//   tile: MR output channels x (16 NV) pixels p0..   acc[i][v] += W~[r][i] * col[r, p0 + 16 v ..]
//   for each tap:   its NV lane masks and shift, then for each input channel c:
//                   NV masked loads from x + c P + shift(tap) + p0, MR broadcasts of the packed
//                   weights, MR x NV FMAs
//
// The weights are packed once per call, W~[tile][tap][c][i] = w[o0 + i, c, tap], and shared by
// every sample. Each output is one sum in a fixed order: the same bits for any thread count. Tiles
// (MR x 16 NV): 8 x 48, 8 x 32, 16 x 16, whichever pads the channels and pixels least. AVX-512
// only; elsewhere conv.cpp uses the implicit GEMM.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/cpu/conv_pack.h"

namespace fm::cpu {

class DirectConv {
 public:
  // Whether the kernels can run here (AVX-512, and sgemm not forced to another set) and beat the
  // GEMM for O output channels, P pixels and `taps` = k^2 taps. Measured at 2 threads (GFLOP/s,
  // direct vs implicit GEMM, 3x3 forward): O = 16: 212 vs 157; O = 32: 211 vs 192; O = 64 at
  // 14 x 14: 157 vs 143, at 7 x 7: 123 vs 113, but at 28 x 28: 161 vs 180, where packing is well
  // amortised. A 1x1 convolution (one tap) packs each float for a ninth of the work, and the
  // direct kernels won at every size measured (ms, B = 64, Zen 4, forward / dx against sgemm):
  // C 32 -> O 16 at 28 x 28: 0.36-0.42 / 0.43 vs 0.48-0.65 / 0.42; C 64 -> O 32 at 14 x 14:
  // 0.31-0.36 / 0.29 vs 0.39-0.42 / 0.35; C 256 -> O 64 at 14 x 14: 3.05-3.4 / 2.8 vs 3.9-4.3 / 3.0.
  static bool available(int64_t O, int64_t P, int64_t taps);
  // Test and benchmark hook: 0 never, 1 always (whatever O), -1 back to the rule above.
  static void force(int mode);
  // For the convolution s (a "same" one) with weights w [O, C, k, k]; `masks` holds its taps.
  DirectConv(const Conv2dShape& s, const float* w, const Im2colPacker& masks);
  // y [O, P] of one sample (+)= conv(x [C, H, W]); accumulate adds onto what y holds.
  void run(const float* x, float* y, bool accumulate) const;

 private:
  const Im2colPacker& masks_;
  int64_t O_, C_, taps_, P_;
  int mr_, nv_;                             // the tile
  std::vector<float> wpack_;                // [ceil(O / MR)][taps][C][MR]
  std::vector<int64_t> tap_shift_;          // [taps]: shift(tap)
  std::vector<const uint16_t*> tap_masks_;  // [taps]: the tap's lane masks
};

// The weight gradient of a "same" convolution, tap by tap, with no column matrix:
//
//   dW[o, c, t] = sum_p dy[o, p] x[c, p + shift(t)]      (0 where the tap leaves the image)
//
// Per sample, x is transposed into a zero-padded image with channels last, xT[(h, w), c] (C
// rounded up to 16), and dy into dyT[p, o]; both are small next to the work (C P + O P floats
// against O C k^2 P multiply-adds). Then for each tap, a tile of MR output channels by 16 NV
// input channels keeps its sums in registers over all P pixels:
//
//   acc[i][v] += dyT[p, o0 + i] * xT[(oh + ki, ow + kj), c0 + 16 v ..]
//
// loading NV whole vectors (the padding stands in for every out-of-image tap: no masks) and
// broadcasting MR gradients per pixel. The sums go into a partial [k^2][O][C] per group of
// samples, a sample at a time in order: the same bits for any thread count. A 1x1 convolution
// whose C and O are multiples of 16 skips dyT: the Winograd weight gradient's tiles broadcast dy from
// its own rows (conv_winograd_x86.cpp): dW of C 32 -> O 16 at 28 x 28, B = 64, 0.39-0.40 ms
// against 0.41-0.44 (Zen 4).
class DirectWeightGrad {
 public:
  // Whether to use it for s: AVX-512 (as DirectConv::available, whose force() hook applies) and
  // at most 25 % padding of C to whole vectors (the 1-channel stem measured 9 against the
  // implicit GEMM's 17 GFLOP/s; C = 16 to 96 measured 1.1-2.1x faster than the GEMM). A 1x1
  // convolution only with O <= 32: the two transposes are then a large part of its little work,
  // and against sgemm (ms, B = 64, Zen 4) C 32 -> O 16 at 28 x 28 measured 0.43 vs 0.71, C 64 ->
  // O 32 at 14 x 14 0.39 vs 0.38, but C 32 -> O 96 at 28 x 28 2.5-2.7 vs 2.3-2.4 and C 256 -> O 64
  // at 14 x 14 3.4-3.5 vs 2.8-3.0.
  static bool suits(const Conv2dShape& s);
  explicit DirectWeightGrad(const Conv2dShape& s);
  // part [k*k, O, C] (+)= dW of one sample (overwritten when first): x [C, H, W], dy [O, H, W].
  void accumulate(const float* x, const float* dy, float* part, bool first) const;

 private:
  int64_t C_, O_, H_, W_, k_, pad_, Cp_, Op_, Hp_, Wp_;  // Cp, Op: C, O rounded up to the tiles
  int mr_, nv_;
};

}  // namespace fm::cpu
