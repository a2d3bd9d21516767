// tensor/cpu/conv_direct.cpp
//
// The choice of tiles, the weight packing and the loops over tiles; the AVX-512 register tiles
// themselves are x86-only, in conv_direct_x86.cpp (x86_kernels.h). Both classes are only made
// where available() / suits() said yes, which needs those kernels built in and the CPU to have
// AVX-512 (cpu_features.h); elsewhere conv.cpp takes the implicit GEMM.
#include "tensor/cpu/conv_direct.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "tensor/cpu/conv_winograd.h"
#include "tensor/cpu/cpu_features.h"
#include "tensor/cpu/gemm_kernels.h"
#include "tensor/cpu/x86_kernels.h"

namespace fm::cpu {

namespace {

// The tile shapes (MR, NV) that conv_direct_x86.cpp has kernels for.
struct TileShape {
  int mr, nv;
};
const TileShape kTiles[] = {{8, 3}, {8, 2}, {16, 1}};

const TileShape& tile_for(int64_t O, int64_t P) {
  const TileShape* best = &kTiles[0];
  int64_t best_area = -1;
  for (const TileShape& t : kTiles) {
    const int64_t w = 16 * t.nv, area = (O + t.mr - 1) / t.mr * t.mr * ((P + w - 1) / w * w);
    if (best_area < 0 || area < best_area) best = &t, best_area = area;
  }
  return *best;
}

// The kernels of conv_direct_x86.cpp; not reached where they are not built in (see the top).
x86::ConvTileFn conv_kernel(int mr, int nv) {
  if constexpr (kHaveX86Kernels)
    return x86::conv_tile_avx512(mr, nv);
  else
    throw std::logic_error("DirectConv: this build has no AVX-512 kernels");
}
x86::DwTileFn dw_kernel(int mr, int nv) {
  if constexpr (kHaveX86Kernels)
    return x86::dw_tile_avx512(mr, nv);
  else
    throw std::logic_error("DirectWeightGrad: this build has no AVX-512 kernels");
}
void to_channels_last(const float* src, int64_t C, int64_t H, int64_t W, int64_t rows16, float* dst,
                      int64_t row_stride, int64_t pixel_stride) {
  if constexpr (kHaveX86Kernels)
    x86::to_channels_last_avx512(src, C, H, W, rows16, dst, row_stride, pixel_stride);
  else
    throw std::logic_error("DirectWeightGrad: this build has no AVX-512 kernels");
}

std::atomic<int> g_forced{-1};  // -1: by the channel count; 0: never; 1: always
constexpr int64_t kMaxChannels = 32, kMaxPixels = 256;  // direct when O <= 32 or P <= 256
}  // namespace

void DirectConv::force(int mode) { g_forced.store(mode); }

bool DirectConv::available(int64_t O, int64_t P, int64_t taps) {
  const int forced = g_forced.load();
  if (forced == 0 || !gemm_detail::avx512_active()) return false;
  return forced == 1 || taps == 1 || O <= kMaxChannels || P <= kMaxPixels;
}

DirectConv::DirectConv(const Conv2dShape& s, const float* w, const Im2colPacker& masks)
    : masks_(masks), O_(s.O), C_(s.C), taps_(s.k * s.k), P_(s.Ho * s.Wo) {
  const TileShape& t = tile_for(O_, P_);
  mr_ = t.mr, nv_ = t.nv;
  const int64_t tiles = (O_ + mr_ - 1) / mr_, R = C_ * taps_;
  // W~[tile][tap][c][i] = w[o0 + i, c, tap]: the order the tile walks the rows in.
  wpack_.assign(tiles * R * mr_, 0.0f);
  for (int64_t o = 0; o < O_; ++o)
    for (int64_t c = 0; c < C_; ++c)
      for (int64_t k = 0; k < taps_; ++k) wpack_[((o / mr_ * taps_ + k) * C_ + c) * mr_ + o % mr_] = w[(o * C_ + c) * taps_ + k];
  tap_shift_.resize(taps_);
  tap_masks_.resize(taps_);
  for (int64_t k = 0; k < taps_; ++k) {
    tap_shift_[k] = masks.shift(k);
    tap_masks_[k] = masks.tap_masks(k);
  }
}

void DirectConv::run(const float* x, float* y, bool accumulate) const {
  const x86::ConvTileFn tile = conv_kernel(mr_, nv_);
  const int64_t width = 16 * nv_, R = C_ * taps_;
  // Pixel panels outside, channel tiles inside: the image rows a panel reads stay in L1 while
  // every channel tile uses them.
  for (int64_t p0 = 0; p0 < P_; p0 += width)
    for (int64_t o0 = 0; o0 < O_; o0 += mr_)
      tile(C_, taps_, P_, wpack_.data() + o0 * R, x, tap_shift_.data(), tap_masks_.data(), p0, y + o0 * P_, P_,
           int(std::min<int64_t>(mr_, O_ - o0)), int(std::min<int64_t>(width, P_ - p0)), accumulate);
}

bool DirectWeightGrad::suits(const Conv2dShape& s) {
  if (!DirectConv::available(0, 0, 1)) return false;  // no AVX-512, or forced off
  const int64_t Cp = (s.C + 15) / 16 * 16;
  return g_forced.load() == 1 || (s.C * 5 >= Cp * 4 && (s.k > 1 || s.O <= kMaxChannels));
}

DirectWeightGrad::DirectWeightGrad(const Conv2dShape& s)
    : C_(s.C), O_(s.O), H_(s.H), W_(s.W), k_(s.k), pad_(s.pad) {
  Cp_ = (C_ + 15) / 16 * 16;
  const int64_t groups = Cp_ / 16;
  nv_ = groups % 3 == 0 ? 3 : groups % 2 == 0 ? 2 : 1;
  mr_ = nv_ == 1 && O_ >= 16 ? 16 : 8;
  Op_ = (O_ + 15) / 16 * 16;  // dyT rows are whole vectors (and cover the last row tile)
  Hp_ = H_ + 2 * pad_, Wp_ = W_ + 2 * pad_;
}

void DirectWeightGrad::accumulate(const float* x, const float* dy, float* part, bool first) const {
  // Zero-padded transposes, xT[(h + pad) Wp + w + pad, c] = x[c, h, w] and dyT[p, o] = dy[o, p],
  // in per-thread buffers aligned to 64 bytes (the tile loads whole vectors). Only the interior
  // is written per call; the padding is zeroed when a thread first meets a shape.
  struct Buffers {
    std::vector<float> x, g;
    int64_t shape[4] = {-1, -1, -1, -1};
  };
  thread_local Buffers buf;
  const int64_t P = H_ * W_, xn = Hp_ * Wp_ * Cp_ + 16, gn = P * Op_ + 16;
  const int64_t shape[4] = {Cp_, Hp_, Wp_, pad_};
  if (!std::equal(shape, shape + 4, buf.shape) || int64_t(buf.g.size()) < gn) {
    buf.x.assign(std::max<int64_t>(xn, buf.x.size()), 0.0f);
    buf.g.resize(std::max<int64_t>(gn, buf.g.size()));
    std::copy(shape, shape + 4, buf.shape);
  }
  float* xt = buf.x.data() + (16 - reinterpret_cast<uintptr_t>(buf.x.data()) / 4 % 16) % 16;
  float* gt = buf.g.data() + (16 - reinterpret_cast<uintptr_t>(buf.g.data()) / 4 % 16) % 16;
  to_channels_last(x, C_, H_, W_, Cp_, xt + (pad_ * Wp_ + pad_) * Cp_, Wp_ * Cp_, Cp_);
  if (k_ == 1 && Cp_ == C_ && O_ % 16 == 0) {
    // One tap and whole vectors of channels: part [O, C] (+)= dy [O, P] @ xT [P, C] by the Winograd
    // weight gradient's tiles, which broadcast dy from its own rows: no transpose of dy. (Those
    // tiles read whole tiles of 8 or 16 rows of dy, hence O a multiple of 16.)
    winograd_grad_product(O_, C_, P, dy, P, xt, C_, part, C_, first);
    return;
  }
  to_channels_last(dy, O_, 1, P, Op_, gt, 0, Op_);

  const x86::DwTileFn tile = dw_kernel(mr_, nv_);
  for (int64_t ki = 0; ki < k_; ++ki)
    for (int64_t kj = 0; kj < k_; ++kj) {
      const float* corner = xt + (ki * Wp_ + kj) * Cp_;
      float* pt = part + (ki * k_ + kj) * O_ * C_;  // [O, C] of this tap
      for (int64_t o0 = 0; o0 < O_; o0 += mr_)
        for (int64_t c0 = 0; c0 < Cp_; c0 += 16 * nv_) {
          if (c0 + 16 * nv_ <= C_) {
            tile(H_, W_, corner + c0, Wp_, Cp_, gt + o0, Op_, pt + o0 * C_ + c0, C_,
                 int(std::min<int64_t>(mr_, O_ - o0)), first);
            continue;
          }
          // The last channel group runs past C: through a small buffer, then the valid columns.
          alignas(64) float tmp[16 * 48];
          const int m = int(std::min<int64_t>(mr_, O_ - o0)), width = int(C_ - c0);
          tile(H_, W_, corner + c0, Wp_, Cp_, gt + o0, Op_, tmp, 16 * nv_, m, true);
          for (int i = 0; i < m; ++i)
            for (int j = 0; j < width; ++j) {
              float& d = pt[(o0 + i) * C_ + c0 + j];
              d = first ? tmp[i * 16 * nv_ + j] : d + tmp[i * 16 * nv_ + j];
            }
        }
    }
}

}  // namespace fm::cpu
