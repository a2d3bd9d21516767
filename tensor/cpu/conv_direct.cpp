// tensor/cpu/conv_direct.cpp
#include "tensor/cpu/conv_direct.h"

#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>

#include "tensor/cpu/avx512.h"
#include "tensor/cpu/gemm_kernels.h"

namespace fm::cpu {

namespace {

// One tile: y[i, p0 + 16 v + l] (+)= sum_{t, c} w[(t C + c) MR + i] x[c P + shift[t] + p0 + 16 v + l]
// (masked by the tap's lanes), for the first m rows and n pixels. Taps outside, channels inside:
// a tap's NV lane masks and its shifted base pointer are loaded once, and then each channel costs
// NV masked loads, MR broadcasts and MR x NV FMAs. See the header for the scheme.
template <int MR, int NV>
FM_AVX512 void conv_tile(int64_t C, int64_t taps, int64_t P, const float* w, const float* x, const int64_t* shift,
                         const uint16_t* const* masks, int64_t p0, float* y, int64_t ldy, int m, int n,
                         bool accumulate) {
  __m512 acc[MR][NV];
  zero_tile<MR, NV>(acc);
  const int64_t g0 = p0 / 16;
  for (int64_t t = 0; t < taps; ++t) {
    __mmask16 mk[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) mk[v] = __mmask16(masks[t][g0 + v]);
    const float* src = x + shift[t] + p0;
    for (int64_t c = 0; c < C; ++c, src += P, w += MR) {
      __m512 b[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) b[v] = _mm512_maskz_loadu_ps(mk[v], src + 16 * v);
      rank1_update<MR, NV>(acc, w, b);
    }
  }
  // Compile-time loop bounds keep acc in registers (a run-time index would spill it to memory).
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    if (i >= m) break;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const __mmask16 lanes = first_lanes(n - 16 * v);
      float* dst = y + i * ldy + p0 + 16 * v;
      __m512 out = acc[i][v];
      if (accumulate) out = _mm512_add_ps(out, _mm512_maskz_loadu_ps(lanes, dst));
      _mm512_mask_storeu_ps(dst, lanes, out);
    }
  }
}

using TileFn = void (*)(int64_t, int64_t, int64_t, const float*, const float*, const int64_t*, const uint16_t* const*,
                        int64_t, float*, int64_t, int, int, bool);

struct TileShape {
  int mr, nv;
  TileFn fn;
};
// 24, 16 and 16 accumulators; per row r, NV loads and MR broadcasts feed MR x NV FMAs.
const TileShape kTiles[] = {{8, 3, conv_tile<8, 3>}, {8, 2, conv_tile<8, 2>}, {16, 1, conv_tile<16, 1>}};

const TileShape& tile_for(int64_t O, int64_t P) {
  const TileShape* best = &kTiles[0];
  int64_t best_area = -1;
  for (const TileShape& t : kTiles) {
    const int64_t w = 16 * t.nv, area = (O + t.mr - 1) / t.mr * t.mr * ((P + w - 1) / w * w);
    if (best_area < 0 || area < best_area) best = &t, best_area = area;
  }
  return *best;
}

}  // namespace

namespace {
std::atomic<int> g_forced{-1};  // -1: by the channel count; 0: never; 1: always
constexpr int64_t kMaxChannels = 32, kMaxPixels = 256;  // direct when O <= 32 or P <= 256
}  // namespace

void DirectConv::force(int mode) { g_forced.store(mode); }

bool DirectConv::available(int64_t O, int64_t P) {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  const int forced = g_forced.load();
  if (!avx512 || forced == 0 || std::strcmp(gemm_detail::active_kernels().name, "avx512") != 0) return false;
  return forced == 1 || O <= kMaxChannels || P <= kMaxPixels;
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
  const TileShape& t = tile_for(O_, P_);
  const int64_t width = 16 * nv_, R = C_ * taps_;
  // Pixel panels outside, channel tiles inside: the image rows a panel reads stay in L1 while
  // every channel tile uses them.
  for (int64_t p0 = 0; p0 < P_; p0 += width)
    for (int64_t o0 = 0; o0 < O_; o0 += mr_)
      t.fn(C_, taps_, P_, wpack_.data() + o0 * R, x, tap_shift_.data(), tap_masks_.data(), p0, y + o0 * P_, P_,
           int(std::min<int64_t>(mr_, O_ - o0)), int(std::min<int64_t>(width, P_ - p0)), accumulate);
}

namespace {

// One weight-gradient tile over all pixels of one tap; see DirectWeightGrad in the header.
// xt points at xT[(ki, kj), c0] (the tap's corner of the padded image), dyt at dyT[0, o0].
template <int MR, int NV>
FM_AVX512 void dw_tile(int64_t H, int64_t W, const float* xt, int64_t Wp, int64_t Cp, const float* dyt,
                       int64_t Op, float* out, int64_t ldo, int m, bool first) {
  __m512 acc[MR][NV];
  zero_tile<MR, NV>(acc);
  for (int64_t oh = 0; oh < H; ++oh) {
    const float* xrow = xt + oh * Wp * Cp;
    const float* grow = dyt + oh * W * Op;
    for (int64_t ow = 0; ow < W; ++ow) {
      __m512 b[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) b[v] = _mm512_load_ps(xrow + ow * Cp + 16 * v);
      rank1_update<MR, NV>(acc, grow + ow * Op, b);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    if (i >= m) break;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      float* dst = out + i * ldo + 16 * v;
      _mm512_storeu_ps(dst, first ? acc[i][v] : _mm512_add_ps(acc[i][v], _mm512_loadu_ps(dst)));
    }
  }
}

using DwTileFn = void (*)(int64_t, int64_t, const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t,
                          int, bool);

DwTileFn dw_tile_fn(int mr, int nv) {
  if (nv == 3) return dw_tile<8, 3>;
  if (nv == 2) return dw_tile<8, 2>;
  return mr == 16 ? dw_tile<16, 1> : dw_tile<8, 1>;
}

// dst[(h row_stride) + w pixel_stride + c] = src[c, h, w] for c < rows16 (a multiple of 16; the
// channels past C come out as zeros): 16 x 16 blocks through registers (transpose16).
FM_AVX512 void to_channels_last(const float* src, int64_t C, int64_t H, int64_t W, int64_t rows16, float* dst,
                                int64_t row_stride, int64_t pixel_stride) {
  for (int64_t h = 0; h < H; ++h)
    for (int64_t c0 = 0; c0 < rows16; c0 += 16)
      for (int64_t w0 = 0; w0 < W; w0 += 16) {
        const __mmask16 wm = first_lanes(W - w0);
        __m512 v[16];
        for (int i = 0; i < 16; ++i)
          v[i] = c0 + i < C ? _mm512_maskz_loadu_ps(wm, src + ((c0 + i) * H + h) * W + w0) : _mm512_setzero_ps();
        transpose16(v);
        for (int64_t j = 0; j < std::min<int64_t>(16, W - w0); ++j)
          _mm512_store_ps(dst + h * row_stride + (w0 + j) * pixel_stride + c0, v[j]);
      }
}

}  // namespace

bool DirectWeightGrad::suits(const Conv2dShape& s) {
  if (!DirectConv::available(0, 0)) return false;  // no AVX-512, or forced off
  const int64_t Cp = (s.C + 15) / 16 * 16;
  return g_forced.load() == 1 || s.C * 5 >= Cp * 4;
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
  to_channels_last(dy, O_, 1, P, Op_, gt, 0, Op_);

  const DwTileFn tile = dw_tile_fn(mr_, nv_);
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
