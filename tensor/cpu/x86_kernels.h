// tensor/cpu/x86_kernels.h: the entry points into the x86-only kernel files (internal to tensor/).
//
// Declared on every architecture, with portable types only, and defined only when
// FM_HAVE_X86_KERNELS (gemm_kernels_x86.cpp, fma_peak_x86.cpp, conv_x86.cpp, conv_direct_x86.cpp,
// conv_winograd_x86.cpp, group_norm_x86.cpp, best_two_x86.cpp).
// Call them only inside `if constexpr (kHaveX86Kernels)` and after cpu_features() says the CPU has
// the instructions (cpu_features.h); the portable loops next to each call are what runs otherwise.
#pragma once
#include <cstdint>

#include "tensor/cpu/cpu_features.h"
#include "tensor/cpu/gemm_kernels.h"

namespace fm::cpu {

class Im2colPacker;

namespace gemm_detail {
// The AVX-512 and AVX2 + FMA sgemm kernel sets (gemm_kernels_x86.cpp).
extern const KernelSet kAvx512, kAvx2;
}  // namespace gemm_detail

namespace x86 {

// conv.cpp's stride-2 rows (conv_x86.cpp): dst[i] = src[2 i], and dst[2 i] += src[i], i < n.
void copy_even_avx512(const float* src, float* dst, int64_t n);
void add_even_avx512(const float* src, float* dst, int64_t n);

// Im2colPacker's panels for nr a multiple of 16 (conv_x86.cpp): pack_panel_avx512 is one panel
// of pack(), dst[k * nr + j] = col[k0 + k, j0 + j]; pack_transposed_avx512 is pack_transposed().
void pack_panel_avx512(const float* x, int64_t P, int64_t taps, const int64_t* shift, const uint16_t* masks,
                       int64_t groups, int64_t k0, int64_t kc, int64_t j0, int nr, float* dst);
void pack_transposed_avx512(const Im2colPacker& pk, const float* x, int64_t P, int64_t taps, const int64_t* shift,
                            int64_t k0, int64_t kc, int64_t j0, int64_t n, int nr, float* dst);

// DirectConv's register tiles (conv_direct_x86.cpp; the scheme is in conv_direct.h). One tile of
// MR output channels by 16 NV pixels from p0:
//   y[i, p] (+)= sum_{t, c} w[(t C + c) MR + i] x[c P + shift[t] + p]   (masked by masks[t]),
// for its first m rows and n pixels. conv_tile_avx512 gives the kernel of a tile shape
// MR x NV = 8 x 3, 8 x 2 or 16 x 1 (nullptr for any other).
using ConvTileFn = void (*)(int64_t C, int64_t taps, int64_t P, const float* w, const float* x, const int64_t* shift,
                            const uint16_t* const* masks, int64_t p0, float* y, int64_t ldy, int m, int n,
                            bool accumulate);
ConvTileFn conv_tile_avx512(int mr, int nv);

// DirectWeightGrad's tiles (conv_direct_x86.cpp): over all H x W pixels of one tap,
//   out[i, 16 v + l] (+)= sum_p dyt[p Op + i] xt[(oh Wp + ow) Cp + 16 v + l]
// for the first m rows (out overwritten when first). dw_tile_avx512 gives the kernel of
// MR x NV = 8 x 3, 8 x 2, 8 x 1 or 16 x 1.
using DwTileFn = void (*)(int64_t H, int64_t W, const float* xt, int64_t Wp, int64_t Cp, const float* dyt, int64_t Op,
                          float* out, int64_t ldo, int m, bool first);
DwTileFn dw_tile_avx512(int mr, int nv);
// dst[h row_stride + w pixel_stride + c] = src[c, h, w] for c < rows16 (a multiple of 16; the
// channels past C come out as zeros); dst 64-byte aligned at every pixel.
void to_channels_last_avx512(const float* src, int64_t C, int64_t H, int64_t W, int64_t rows16, float* dst,
                             int64_t row_stride, int64_t pixel_stride);

// WinogradConv's pieces (conv_winograd_x86.cpp; the math is in conv_winograd.h): F(4 x 2, 3 x 3),
// bands of 4 output rows, 24 positions. The input transform writes V[xi][c][(th - th0) ldb + l] =
// (B4^T d B2)[xi] of the tiles (th, tw0 + l), l < 16, of the bands th0 <= th < th1 of one sample
// x [C, H, W], for each of its C channels (v: V[0][0][0] of the first band; rows ldv, positions
// ldxi apart; all 16 lanes stored, junk past the band). The product is m [O, n] = u [ceil(O / 8)]
// [C][8] @ v [C, n]. The output transform writes the outputs of the n <= 16 tiles (th, tw0 ..) for
// each of O channels into y [O, H, W] (clipped to H x W), adding bias[o], sample_bias[o], residual
// (each when not null) and y's old value when accumulate.
void winograd_input_avx512(const float* x, int64_t C, int64_t H, int64_t W, int64_t th0, int64_t th1, int64_t tw0,
                           float* v, int64_t ldb, int64_t ldv, int64_t ldxi);
void winograd_product_avx512(int64_t O, int64_t C, const float* u, const float* v, int64_t ldv, int64_t n, float* m,
                             int64_t ldm);
void winograd_output_avx512(const float* m, int64_t ldm, int64_t ldxi, int64_t O, int64_t H, int64_t W, int64_t th,
                            int64_t tw0, int n, const float* bias, const float* sample_bias, const float* residual,
                            float* y, bool accumulate);
// The same two transforms for narrow images (W <= 16), two bands of TW = (W + 1) / 2 tiles per
// vector: the input one for the bands th0 <= th < th1 (ldb = TW), the output one for band th and,
// when bands = 2, band th + 1.
void winograd_input_narrow_avx512(const float* x, int64_t C, int64_t H, int64_t W, int64_t th0, int64_t th1, float* v,
                                  int64_t ldv, int64_t ldxi);
void winograd_output_narrow_avx512(const float* m, int64_t ldm, int64_t ldxi, int64_t O, int64_t H, int64_t W,
                                   int64_t th, int bands, const float* bias, const float* sample_bias,
                                   const float* residual, float* y, bool accumulate);

// WinogradWeightGrad's pieces (conv_winograd_x86.cpp): the adjoint of the output transform,
// dM[xi][o][(th - th0) ldb + l] = (A4 dY A2^T)[xi] of the tiles (th, tw0 + l) of dy [O, H, W] (laid
// out as the input transform's V); a transpose vt [n][ldt] = v [C][n] (zero channels up to a
// multiple of 16); and out [O][ldo] (+)= dm [O][n] @ vt [n][Cp] (overwritten when first).
void winograd_output_adjoint_avx512(const float* dy, int64_t O, int64_t H, int64_t W, int64_t th0, int64_t th1,
                                    int64_t tw0, float* m, int64_t ldb, int64_t ldm, int64_t ldxi);
void winograd_output_adjoint_narrow_avx512(const float* dy, int64_t O, int64_t H, int64_t W, int64_t th0, int64_t th1,
                                           float* m, int64_t ldm, int64_t ldxi);  // W <= 16, ldb = TW
void winograd_transpose_avx512(const float* v, int64_t C, int64_t ldv, int64_t n, float* vt, int64_t ldt);
void winograd_grad_product_avx512(int64_t O, int64_t Cp, int64_t n, const float* dm, int64_t ldm, const float* vt,
                                  int64_t ldt, float* out, int64_t ldo, bool first);

// The group norm's SiLU loops (group_norm_x86.cpp): y = silu(x a + b); and g = dy silu'(x a + b)
// with s1 = sum g, s2 = sum g (x - m), over n elements.
void affine_silu_avx512(const float* x, float a, float b, float* y, int64_t n);
void grad_sums_silu_avx512(const float* x, const float* dy, float m, float a, float b, float* g, int64_t n, double& s1,
                           double& s2);

// The FMA peak's register-only loops (fma_peak_x86.cpp): `rounds` rounds of dependent FMAs on
// 16 independent vector accumulators; each returns its flops (2 per lane per FMA).
double fma_rounds_avx512(int64_t rounds);
double fma_rounds_avx2(int64_t rounds);

// best_two (tensor/best_two.h) over the n columns, with AVX-512 (best_two_x86.cpp).
void best_two_avx512(const float* a, const float* x, int64_t ldx, const float* b, int64_t n, int64_t d,
                     float* best, float* second, int64_t* index);

}  // namespace x86
}  // namespace fm::cpu
