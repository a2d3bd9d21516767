// tensor/cpu/conv_pack.h: packing a convolution's im2col matrix straight into sgemm's B~ panels
// (internal to tensor/; see conv.cpp and sgemm_implicit_b in gemm.h).
//
// For a "same" convolution (stride 1, output size = input size) row r = (c, tap) of the column
// matrix is channel c shifted by one offset, shift(tap) = (ki - pad) W + (kj - pad), with the
// pixels whose tap falls outside the image zeroed:
//
//   col[r, p] = valid(tap, p) ? x[c * P + p + shift(tap)] : 0
//
// valid() depends on the tap and the pixel only, so it is computed once per shape as one 16-bit
// lane mask per tap and 16-pixel group. Packing a panel is then, per row, a few masked vector
// loads from x (a masked-off lane is never read, even past the ends of x) and stores to B~:
// the column matrix is never written out, which saves two passes over it.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/cpu/kernels.h"

namespace fm::cpu {

class Im2colPacker {
 public:
  explicit Im2colPacker(const Conv2dShape& s);  // requires a "same" convolution
  // Packs col[k0:k0+kc, j0:j0+n] of sample x [C, H, W] as sgemm_implicit_b's pack_b does.
  void pack(const float* x, int64_t k0, int64_t kc, int64_t j0, int64_t n, int nr, float* dst) const;
  // The same for the transposed matrix, B[p, r] = col[r, p] (K runs over pixels, N over rows):
  // the weight gradient dW [O, R] = dy [O, P] @ col^T. Blocks of 16 rows by 16 pixels go through
  // registers and are transposed there.
  void pack_transposed(const float* x, int64_t k0, int64_t kc, int64_t j0, int64_t n, int nr, float* dst) const;

  // valid(tap, pixel) from the masks; lanes() gives 16 of them from any pixel p0.
  bool valid(int64_t t, int64_t p) const { return masks_[t * groups_ + p / 16] >> (p % 16) & 1; }
  // valid(t, p0 + l) for the 16 lanes l, p0 any pixel (not only a multiple of 16).
  uint16_t lanes(int64_t t, int64_t p0) const {
    const uint16_t* m = masks_.data() + t * groups_ + p0 / 16;
    const uint32_t both = uint32_t(m[0]) | uint32_t(p0 / 16 + 1 < groups_ ? m[1] : 0) << 16;
    return uint16_t(both >> (p0 % 16));
  }

  int64_t taps() const { return taps_; }
  int64_t shift(int64_t t) const { return shift_[t]; }
  const uint16_t* tap_masks(int64_t t) const { return masks_.data() + t * groups_; }  // [groups]

 private:
  int64_t taps_, P_, groups_;
  std::vector<int64_t> shift_;   // [taps]
  std::vector<uint16_t> masks_;  // [taps, groups]: bit l of group g = valid(tap, 16 g + l)
};

}  // namespace fm::cpu
