// tensor/cpu/conv_direct_x86.cpp: the AVX-512 register tiles of the direct convolution and of its
// weight gradient (conv_direct.h). x86 only: compiled only when FM_HAVE_X86_KERNELS
// (tensor/meson.build), reached through x86_kernels.h from conv_direct.cpp, which uses them only
// when cpu_features() reports AVX-512 (elsewhere conv.cpp takes the implicit GEMM instead).
#if !defined(__x86_64__) && !defined(__i386__)
#error "conv_direct_x86.cpp is x86-only; tensor/meson.build should leave it out on this host"
#endif

#include <algorithm>
#include <cstdint>

#include "tensor/cpu/avx512.h"
#include "tensor/cpu/x86_kernels.h"

namespace fm::cpu::x86 {

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
  store_tile<MR, NV>(acc, out, ldo, m, first);
}

}  // namespace

// 8 x 3, 8 x 2 and 16 x 1: 24, 16 and 16 accumulators; per row r, NV loads and MR broadcasts
// feed MR x NV FMAs.
ConvTileFn conv_tile_avx512(int mr, int nv) {
  if (mr == 8 && nv == 3) return conv_tile<8, 3>;
  if (mr == 8 && nv == 2) return conv_tile<8, 2>;
  if (mr == 16 && nv == 1) return conv_tile<16, 1>;
  return nullptr;  // conv_direct.cpp only asks for these three
}

DwTileFn dw_tile_avx512(int mr, int nv) {
  if (nv == 3) return dw_tile<8, 3>;
  if (nv == 2) return dw_tile<8, 2>;
  return mr == 16 ? dw_tile<16, 1> : dw_tile<8, 1>;
}

// dst[(h row_stride) + w pixel_stride + c] = src[c, h, w] for c < rows16 (a multiple of 16; the
// channels past C come out as zeros): 16 x 16 blocks through registers (transpose16).
FM_AVX512 void to_channels_last_avx512(const float* src, int64_t C, int64_t H, int64_t W, int64_t rows16, float* dst,
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

}  // namespace fm::cpu::x86
