// tensor/conv_direct.cpp
#include "tensor/conv_direct.h"

#include <atomic>
#include <cstring>

#include "tensor/avx512.h"
#include "tensor/gemm_kernels.h"

namespace fm {

namespace {

// One tile: y[i, p0 + 16 v + l] (+)= sum_r w[r * MR + i] * (masked) x[off[r] + p0 + 16 v + l],
// for the first m rows and n pixels. See the header for the scheme.
template <int MR, int NV>
FM_AVX512 void conv_tile(int64_t R, const float* w, const float* x, const int64_t* off,
                         const uint16_t* const* masks, int64_t p0, float* y, int64_t ldy, int m, int n,
                         bool accumulate) {
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  const int64_t g0 = p0 / 16;
  for (int64_t r = 0; r < R; ++r) {
    const float* src = x + off[r] + p0;
    const uint16_t* mk = masks[r] + g0;
    __m512 b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) b[v] = _mm512_maskz_loadu_ps(__mmask16(mk[v]), src + 16 * v);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 a = _mm512_set1_ps(w[i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(a, b[v], acc[i][v]);
    }
    w += MR;
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

using TileFn = void (*)(int64_t, const float*, const float*, const int64_t*, const uint16_t* const*, int64_t, float*,
                        int64_t, int, int, bool);

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
constexpr int64_t kMaxChannels = 32;
}  // namespace

void DirectConv::force(int mode) { g_forced.store(mode); }

bool DirectConv::available(int64_t O) {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  const int forced = g_forced.load();
  if (!avx512 || forced == 0 || std::strcmp(gemm_detail::active_kernels().name, "avx512") != 0) return false;
  return forced == 1 || O <= kMaxChannels;
}

DirectConv::DirectConv(const Conv2dShape& s, const float* w, const Im2colPacker& masks)
    : masks_(masks), O_(s.O), R_(s.C * s.k * s.k), P_(s.Ho * s.Wo) {
  const TileShape& t = tile_for(O_, P_);
  mr_ = t.mr, nv_ = t.nv;
  const int64_t tiles = (O_ + mr_ - 1) / mr_, taps = masks.taps();
  wpack_.assign(tiles * R_ * mr_, 0.0f);
  for (int64_t o = 0; o < O_; ++o)
    for (int64_t r = 0; r < R_; ++r) wpack_[(o / mr_ * R_ + r) * mr_ + o % mr_] = w[o * R_ + r];
  row_offset_.resize(R_);
  row_masks_.resize(R_);
  for (int64_t r = 0; r < R_; ++r) {
    row_offset_[r] = r / taps * P_ + masks.shift(r % taps);
    row_masks_[r] = masks.tap_masks(r % taps);
  }
}

void DirectConv::run(const float* x, float* y, bool accumulate) const {
  const TileShape& t = tile_for(O_, P_);
  const int64_t width = 16 * nv_;
  // Pixel panels outside, channel tiles inside: the image rows a panel reads stay in L1 while
  // every channel tile uses them.
  for (int64_t p0 = 0; p0 < P_; p0 += width)
    for (int64_t o0 = 0; o0 < O_; o0 += mr_)
      t.fn(R_, wpack_.data() + o0 * R_, x, row_offset_.data(), row_masks_.data(), p0, y + o0 * P_, P_,
           int(std::min<int64_t>(mr_, O_ - o0)), int(std::min<int64_t>(width, P_ - p0)), accumulate);
}

}  // namespace fm
