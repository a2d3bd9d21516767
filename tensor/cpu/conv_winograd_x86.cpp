// tensor/cpu/conv_winograd_x86.cpp: the AVX-512 pieces of the Winograd F(4x2, 3x3) convolution
// (conv_winograd.h has the math): the input transform, the register tiles of the products and the
// output transform; for the weight gradient, the output transform's adjoint, a transpose and the
// products' tiles. x86 only: compiled only when FM_HAVE_X86_KERNELS (tensor/meson.build),
// reached through x86_kernels.h from conv_winograd.cpp, which uses them only when cpu_features()
// reports AVX-512.
//
// Both transforms put one tile per vector lane: 16 neighbouring tiles of a band (one row of tiles)
// are 16 lanes. Tile tw reads image columns 2 tw - 1 .. 2 tw + 2: from the 32 columns read from
// 2 tw0, the even ones are its column 1 and the odd ones its column 2 (a two-source permute each),
// and shifted by a lane they give columns 0 and 3. Images up to 16 columns wide put two bands in
// a vector instead (narrow_columns below).
#if !defined(__x86_64__) && !defined(__i386__)
#error "conv_winograd_x86.cpp is x86-only; tensor/meson.build should leave it out on this host"
#endif

#include <algorithm>
#include <cstdint>

#include "tensor/cpu/avx512.h"
#include "tensor/cpu/x86_kernels.h"

namespace fm::cpu::x86 {

namespace {

// Prefetch distance of the transforms that read images, in planes (channels): one made the input
// transform twice as fast as none on a batch (64 x 32 x 28 x 28) that did not fit the cache, and
// was faster than 2 or 4.
constexpr int64_t kPrefetchPlanes = 1;

// The products' register tile: m[i, 16 v + l] = sum_c u[c MR + i] v[c ldv + 16 v + l] for the first
// `rows` rows and n columns (lanes past n read as zero and are not stored).
template <int MR, int NV>
FM_AVX512 void product_tile(int64_t C, const float* u, const float* v, int64_t ldv, float* m, int64_t ldm, int rows,
                            int64_t n) {
  __m512 acc[MR][NV];
  zero_tile<MR, NV>(acc);
  __mmask16 mk[NV];
#pragma GCC unroll 4
  for (int j = 0; j < NV; ++j) mk[j] = first_lanes(n - 16 * j);
  for (int64_t c = 0; c < C; ++c, u += MR, v += ldv) {
    __m512 b[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) b[j] = _mm512_maskz_loadu_ps(mk[j], v + 16 * j);
    rank1_update<MR, NV>(acc, u, b);
  }
  // Compile-time bounds keep acc in registers.
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    if (i >= rows) break;
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) _mm512_mask_storeu_ps(m + i * ldm + 16 * j, mk[j], acc[i][j]);
  }
}

// The weight gradient's register tile: out[i, 16 v + l] (+)= sum_{t < n} dm[i ldm + t] vt[t ldt + 16 v + l]
// for the first `rows` rows (overwritten when first): output channels broadcast, input channels in
// lanes, summed over the tiles t in order.
template <int MR, int NV>
FM_AVX512 void grad_tile(int64_t n, const float* dm, int64_t ldm, const float* vt, int64_t ldt, float* out,
                         int64_t ldo, int rows, bool first) {
  __m512 acc[MR][NV];
  zero_tile<MR, NV>(acc);
  for (int64_t t = 0; t < n; ++t, vt += ldt) {
    __m512 b[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) b[j] = _mm512_loadu_ps(vt + 16 * j);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 a = _mm512_set1_ps(dm[i * ldm + t]);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[i][j] = _mm512_fmadd_ps(a, b[j], acc[i][j]);
    }
  }
  store_tile<MR, NV>(acc, out, ldo, rows, first);
}

// Output rows per band: F(4, 3) down the columns (conv_winograd.h), so a band reads kRows + 2
// image rows and its transforms have 6 x 4 = 24 positions xi = 4 i + j.
constexpr int kRows = 4;

// The column transform B4^T (d B2) of a band's 6 rows r[i] = (d B2) of image row i, stored as
// V[4 i' + j] for its 6 positions i', per tile column j.
FM_AVX512 inline void store_column_transform(const __m512 (&r)[kRows + 2][4], float* vb, int64_t ldxi) {
  const __m512 four = _mm512_set1_ps(4.0f), five = _mm512_set1_ps(5.0f);
  for (int j = 0; j < 4; ++j) {
    const __m512 t0 = _mm512_fnmadd_ps(four, r[2][j], r[4][j]);  // r4 - 4 r2
    const __m512 t1 = _mm512_fnmadd_ps(four, r[1][j], r[3][j]);  // r3 - 4 r1
    const __m512 t2 = _mm512_sub_ps(r[4][j], r[2][j]);
    const __m512 t3 = _mm512_add_ps(_mm512_sub_ps(r[3][j], r[1][j]), _mm512_sub_ps(r[3][j], r[1][j]));  // 2 (r3 - r1)
    _mm512_storeu_ps(vb + (0 + j) * ldxi, _mm512_fmadd_ps(four, r[0][j], _mm512_fnmadd_ps(five, r[2][j], r[4][j])));
    _mm512_storeu_ps(vb + (4 + j) * ldxi, _mm512_add_ps(t0, t1));
    _mm512_storeu_ps(vb + (8 + j) * ldxi, _mm512_sub_ps(t0, t1));
    _mm512_storeu_ps(vb + (12 + j) * ldxi, _mm512_add_ps(t2, t3));
    _mm512_storeu_ps(vb + (16 + j) * ldxi, _mm512_sub_ps(t2, t3));
    _mm512_storeu_ps(vb + (20 + j) * ldxi, _mm512_fmadd_ps(four, r[1][j], _mm512_fnmadd_ps(five, r[3][j], r[5][j])));
  }
}

// The row transform d B of one image row, given its tile columns d[j] (column j of each tile).
FM_AVX512 inline void row_transform_of(const __m512 d[4], __m512 r[4]) {
  r[0] = _mm512_sub_ps(d[0], d[2]);
  r[1] = _mm512_add_ps(d[1], d[2]);
  r[2] = _mm512_sub_ps(d[2], d[1]);
  r[3] = _mm512_sub_ps(d[1], d[3]);
}

// dM = (A4 dY) A2^T of the 4 x 2 gradients g[a][b] of each lane's tile, stored as the input
// transform's V (6 x 4 positions). A4 (6 x 4) has rows (1, 0, 0, 0), (1, 1, 1, 1), (1, -1, 1, -1),
// (1, 2, 4, 8), (1, -2, 4, -8), (0, 0, 0, 1); A2 (4 x 2) rows (1, 0), (1, 1), (1, -1), (0, -1).
FM_AVX512 inline void store_output_adjoint(const __m512 (&g)[4][2], float* mb, int64_t ldxi) {
  __m512 e[6][2];  // e[i][b] = (A4 dY)[i][b]
  for (int b = 0; b < 2; ++b) {
    const __m512 p = _mm512_add_ps(g[0][b], g[2][b]), q = _mm512_add_ps(g[1][b], g[3][b]);
    const __m512 p4 = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), g[2][b], g[0][b]);                     // g0 + 4 g2
    const __m512 q4 = _mm512_fmadd_ps(_mm512_set1_ps(8.0f), g[3][b], _mm512_add_ps(g[1][b], g[1][b]));  // 2 g1 + 8 g3
    e[0][b] = g[0][b];
    e[1][b] = _mm512_add_ps(p, q);
    e[2][b] = _mm512_sub_ps(p, q);
    e[3][b] = _mm512_add_ps(p4, q4);
    e[4][b] = _mm512_sub_ps(p4, q4);
    e[5][b] = g[3][b];
  }
  for (int i = 0; i < 6; ++i) {  // (A4 dY) A2^T, row i
    _mm512_storeu_ps(mb + (4 * i + 0) * ldxi, e[i][0]);
    _mm512_storeu_ps(mb + (4 * i + 1) * ldxi, _mm512_add_ps(e[i][0], e[i][1]));
    _mm512_storeu_ps(mb + (4 * i + 2) * ldxi, _mm512_sub_ps(e[i][0], e[i][1]));
    _mm512_storeu_ps(mb + (4 * i + 3) * ldxi, _mm512_sub_ps(_mm512_setzero_ps(), e[i][1]));
  }
}

// The output transform's first half, M A2 per row i of the 6 x 4 transforms: t[i][b] for output
// column b, of the tiles in the lanes of `in` (m at M[0][0][first tile], positions ldxi apart).
FM_AVX512 inline void output_columns(const float* m, int64_t ldxi, __mmask16 in, __m512 (&t)[kRows + 2][2]) {
  for (int i = 0; i < kRows + 2; ++i) {
    const __m512 q0 = _mm512_maskz_loadu_ps(in, m + (4 * i + 0) * ldxi);
    const __m512 q1 = _mm512_maskz_loadu_ps(in, m + (4 * i + 1) * ldxi);
    const __m512 q2 = _mm512_maskz_loadu_ps(in, m + (4 * i + 2) * ldxi);
    const __m512 q3 = _mm512_maskz_loadu_ps(in, m + (4 * i + 3) * ldxi);
    t[i][0] = _mm512_add_ps(_mm512_add_ps(q0, q1), q2);
    t[i][1] = _mm512_sub_ps(_mm512_sub_ps(q1, q2), q3);
  }
}

// Its second half, A4^T (M A2): the 4 output rows a of each tile, column b in yb[a][b]. A4^T has
// rows (1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1).
FM_AVX512 inline void output_rows(const __m512 (&t)[kRows + 2][2], __m512 (&yb)[kRows][2]) {
  for (int b = 0; b < 2; ++b) {
    const __m512 s1 = _mm512_add_ps(t[1][b], t[2][b]), d1 = _mm512_sub_ps(t[1][b], t[2][b]);
    const __m512 s2 = _mm512_add_ps(t[3][b], t[4][b]), d2 = _mm512_sub_ps(t[3][b], t[4][b]);
    yb[0][b] = _mm512_add_ps(_mm512_add_ps(t[0][b], s1), s2);
    yb[1][b] = _mm512_fmadd_ps(_mm512_set1_ps(2.0f), d2, d1);
    yb[2][b] = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), s2, s1);
    yb[3][b] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.0f), d2, d1), t[5][b]);
  }
}

// dst[l] = out[l] + the addends (the constant bias, the residual, dst's old value: each when
// asked) for the lanes of mask.
FM_AVX512 inline void store_output(__m512 out, __mmask16 mask, float* dst, bool add_bias, __m512 bias,
                                   const float* residual, bool accumulate) {
  if (add_bias) out = _mm512_add_ps(out, bias);
  if (residual) out = _mm512_add_ps(out, _mm512_maskz_loadu_ps(mask, residual));
  if (accumulate) out = _mm512_add_ps(out, _mm512_maskz_loadu_ps(mask, dst));
  _mm512_mask_storeu_ps(dst, mask, out);
}

// Narrow images (W <= 16: a band has TW = (W + 1) / 2 <= 8 tiles) put two bands in a vector:
// lanes l < TW hold the tiles tw = l of band th, lanes TW <= l < 2 TW the tiles tw = l - TW of
// band th + 1, which is where V's layout (bands TW tiles apart) wants them; a band per vector
// would leave over half the lanes idle at 14 x 14 and 7 x 7. A whole image row is one masked
// load, and column j of the tiles (image column 2 tw + j - 1) is one two-source permute of a row
// of band th (first source) and a row of band th + 1 (second source), zero outside the image.
struct NarrowColumns {
  __m512i index[4];
  __mmask16 inside[4];
};
FM_AVX512 void narrow_columns(int64_t W, NarrowColumns& nc) {
  const int64_t TW = (W + 1) / 2;
  for (int j = 0; j < 4; ++j) {
    alignas(64) int32_t index[16];
    unsigned inside = 0;
    for (int64_t l = 0; l < 16; ++l) {
      const int64_t band = l / TW, tw = l % TW, col = 2 * tw + j - 1;
      const bool in = band < 2 && col >= 0 && col < W;
      index[l] = in ? int32_t(16 * band + col) : 0;
      if (in) inside |= 1u << l;
    }
    nc.index[j] = _mm512_load_si512(index);
    nc.inside[j] = __mmask16(inside);
  }
}

// rows[k] = row `first + k` of one plane [H, W] (W <= 16 floats, one masked load; zeros outside
// the image), k < N, prefetching the same row of the plane `ahead` floats on when asked.
template <int N>
FM_AVX512 inline void narrow_rows(const float* plane, int64_t first, int64_t H, int64_t W, bool prefetch,
                                  int64_t ahead, __m512 rows[N]) {
  const __mmask16 row_mask = first_lanes(W);
  for (int k = 0; k < N; ++k) {
    const int64_t ih = first + k;
    if (ih < 0 || ih >= H) {
      rows[k] = _mm512_setzero_ps();
      continue;
    }
    if (prefetch) _mm_prefetch(reinterpret_cast<const char*>(plane + ahead + ih * W), _MM_HINT_T0);
    rows[k] = _mm512_maskz_loadu_ps(row_mask, plane + ih * W);
  }
}

}  // namespace

// V[xi][c][t + l] = (B4^T d B2)[xi] of the tiles (th, tw0 + l), l < 16, of the bands th0 <= th < th1
// of one sample x [C, H, W], for every channel c, with t = (th - th0) ldb: v points at V[0][0][0] of
// the first band, rows c ldv apart, positions xi ldxi apart. All 16 lanes are stored (those past
// the band's last tile hold junk that the next chunk overwrites or that nothing reads).
//
// Per channel, image rows are read once: band th uses rows 4 th - 1 .. 4 th + 4, and its last two
// are the next band's first two, so their row transforms d B2 carry over in registers.
FM_AVX512 void winograd_input_avx512(const float* x, int64_t C, int64_t H, int64_t W, int64_t th0, int64_t th1,
                                     int64_t tw0, float* v, int64_t ldb, int64_t ldv, int64_t ldxi) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const int64_t s = 2 * tw0;  // the vectors read columns s .. s + 31, and s - 1 and s + 32
  const __mmask16 m0 = first_lanes(W - s), m1 = first_lanes(W - s - 16);
  const bool left = s > 0, right = s + 32 < W;  // columns s - 1 and s + 32 inside the image
  const __m512 zero = _mm512_setzero_ps();
  // r[j] = (d B)[j] of image row ih: lane l holds tile tw0 + l, whose column j is image column
  // s + 2 l + j - 1: the even columns (j = 1), the odd ones (j = 2), the odd ones a lane up with
  // column s - 1 in lane 0 (j = 0), the even ones a lane down with column s + 32 in lane 15 (j = 3).
  const int64_t ahead = kPrefetchPlanes * H * W;
  bool prefetch = true;
  auto row_transform = [&](const float* xc, int64_t ih, __m512 r[4]) FM_AVX512 {
    if (ih < 0 || ih >= H) {
      r[0] = r[1] = r[2] = r[3] = zero;
      return;
    }
    const float* row = xc + ih * W + s;
    if (prefetch) {  // the same row of a later channel: these loads wait on memory otherwise
      _mm_prefetch(reinterpret_cast<const char*>(row + ahead), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(row + ahead + 16), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(row + ahead + 31), _MM_HINT_T0);
    }
    const __m512 a = _mm512_maskz_loadu_ps(m0, row), b = _mm512_maskz_loadu_ps(m1, row + 16);
    const __m512 before = left ? _mm512_set1_ps(row[-1]) : zero, after = right ? _mm512_set1_ps(row[32]) : zero;
    const __m512 ev = _mm512_permutex2var_ps(a, even, b), od = _mm512_permutex2var_ps(a, odd, b);
    const __m512 d0 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(od), _mm512_castps_si512(before), 15));
    const __m512 d3 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(after), _mm512_castps_si512(ev), 1));
    const __m512 d[4] = {d0, ev, od, d3};
    row_transform_of(d, r);
  };
  for (int64_t c = 0; c < C; ++c, x += H * W, v += ldv) {
    prefetch = c + kPrefetchPlanes < C;
    __m512 r[kRows + 2][4];  // rows 4 th - 1 .. 4 th + 4 of the band, after the row transform
    row_transform(x, kRows * th0 - 1, r[0]);
    row_transform(x, kRows * th0, r[1]);
    for (int64_t th = th0; th < th1; ++th) {
      for (int k = 2; k < kRows + 2; ++k) row_transform(x, kRows * th - 1 + k, r[k]);
      store_column_transform(r, v + (th - th0) * ldb, ldxi);
      for (int j = 0; j < 4; ++j) r[0][j] = r[kRows][j], r[1][j] = r[kRows + 1][j];
    }
  }
}

// The input transform of narrow images (W <= 16), two bands per vector (see narrow_columns): the
// bands th0 <= th < th1 of one sample, V laid out as for winograd_input_avx512 with ldb = TW. With an odd
// count the last vector's second band is junk (rows past the band range, or zeros past the image),
// stored where the next band range starts, which is written after this one.
FM_AVX512 void winograd_input_narrow_avx512(const float* x, int64_t C, int64_t H, int64_t W, int64_t th0, int64_t th1,
                                            float* v, int64_t ldv, int64_t ldxi) {
  NarrowColumns nc;
  narrow_columns(W, nc);
  const int64_t TW = (W + 1) / 2, HW = H * W;
  for (int64_t c = 0; c < C; ++c, x += HW, v += ldv) {
    const bool prefetch = c + kPrefetchPlanes < C;
    for (int64_t th = th0; th < th1; th += 2) {
      // image rows 4 th - 1 .. 4 th + 8: band th reads the first 6, band th + 1 the last 6
      __m512 rows[2 * kRows + 2];
      narrow_rows<2 * kRows + 2>(x, kRows * th - 1, H, W, prefetch, kPrefetchPlanes * HW, rows);
      __m512 r[kRows + 2][4];
      for (int i = 0; i < kRows + 2; ++i) {
        __m512 d[4];
        for (int j = 0; j < 4; ++j) d[j] = _mm512_maskz_permutex2var_ps(nc.inside[j], rows[i], nc.index[j], rows[i + kRows]);
        row_transform_of(d, r[i]);
      }
      store_column_transform(r, v + (th - th0) * TW, ldxi);
    }
  }
}

// y[o, 4 th + a, 2 (tw0 + l) + b] = (A4^T M A2)[a][b] of the n <= 16 tiles (th, tw0 + l) of output
// channel o, plus bias[o] + sample_bias[o] + residual[o, ...] (each when not null) and y's old value
// when accumulate; rows and columns past H, W are not written. m points at M[0][0][first tile],
// rows o ldm apart, positions xi ldxi apart; y and residual at the sample's [O, H, W].
FM_AVX512 void winograd_output_avx512(const float* m, int64_t ldm, int64_t ldxi, int64_t O, int64_t H, int64_t W,
                                      int64_t th, int64_t tw0, int n, const float* bias, const float* sample_bias,
                                      const float* residual, float* y, bool accumulate) {
  // Interleave the two output columns of each tile: lanes 0..7 of (b = 0, b = 1), then 8..15.
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const __mmask16 in = first_lanes(n);
  const int64_t s = 2 * tw0, end = std::min<int64_t>(W, 2 * (tw0 + n));
  const __mmask16 c0 = first_lanes(end - s), c1 = first_lanes(end - s - 16);
  const int rows = int(std::min<int64_t>(kRows, H - kRows * th));
  for (int64_t o = 0; o < O; ++o, m += ldm) {
    __m512 t[kRows + 2][2];  // t[i][b]: row i of M A2, output column b
    output_columns(m, ldxi, in, t);
    __m512 yb[kRows][2];  // output row 4 th + a, columns b = 0, 1 of each tile
    output_rows(t, yb);
    const __m512 addv = _mm512_set1_ps((bias ? bias[o] : 0.0f) + (sample_bias ? sample_bias[o] : 0.0f));
    for (int a = 0; a < rows; ++a) {
      const int64_t off = (o * H + kRows * th + a) * W + s;
      const __m512 out[2] = {_mm512_permutex2var_ps(yb[a][0], lo, yb[a][1]), _mm512_permutex2var_ps(yb[a][0], hi, yb[a][1])};
      const __mmask16 cm[2] = {c0, c1};
      for (int h = 0; h < 2; ++h)
        if (cm[h])
          store_output(out[h], cm[h], y + off + 16 * h, bias || sample_bias, addv,
                       residual ? residual + off + 16 * h : nullptr, accumulate);
    }
  }
}

// The output transform of narrow images (W <= 16): the tiles of band th in lanes l < TW and, when
// bands = 2, those of band th + 1 in lanes TW <= l < 2 TW (see narrow_columns); the rest as
// winograd_output_avx512. A band's output row is one vector: the two output columns of its tiles interleaved
// by a permute.
FM_AVX512 void winograd_output_narrow_avx512(const float* m, int64_t ldm, int64_t ldxi, int64_t O, int64_t H, int64_t W,
                                             int64_t th, int bands, const float* bias, const float* sample_bias,
                                             const float* residual, float* y, bool accumulate) {
  const int64_t TW = (W + 1) / 2;
  __m512i interleave[2];  // band k: lanes (k TW + l of column 0, k TW + l of column 1), l = 0..7
  for (int k = 0; k < 2; ++k) {
    alignas(64) int32_t index[16];
    for (int l = 0; l < 8; ++l) index[2 * l] = int32_t(k * TW + l), index[2 * l + 1] = int32_t(16 + k * TW + l);
    interleave[k] = _mm512_load_si512(index);
  }
  const __mmask16 in = first_lanes(bands * TW), cols = first_lanes(W);
  for (int64_t o = 0; o < O; ++o, m += ldm) {
    __m512 t[kRows + 2][2];
    output_columns(m, ldxi, in, t);
    __m512 yb[kRows][2];
    output_rows(t, yb);
    const __m512 addv = _mm512_set1_ps((bias ? bias[o] : 0.0f) + (sample_bias ? sample_bias[o] : 0.0f));
    for (int a = 0; a < kRows; ++a)
      for (int k = 0; k < bands; ++k) {
        const int64_t oh = kRows * (th + k) + a;
        if (oh >= H) continue;
        const int64_t off = (o * H + oh) * W;
        store_output(_mm512_permutex2var_ps(yb[a][0], interleave[k], yb[a][1]), cols, y + off, bias || sample_bias,
                     addv, residual ? residual + off : nullptr, accumulate);
      }
  }
}

// m [O, n] (rows ldm apart) = u [ceil(O / 8)][C][8] @ v [C, n] (rows ldv apart): 8 x 48 tiles, or
// 8 x 32 and 8 x 16 for the last columns. (Per channel, a tile loads NV vectors and 8 weights for
// 8 NV FMAs: 8 x 16 is load-bound at about half the FMA rate, so 49..64 columns go as 32 + 32.)
FM_AVX512 void winograd_product_avx512(int64_t O, int64_t C, const float* u, const float* v, int64_t ldv, int64_t n,
                                       float* m, int64_t ldm) {
  for (int64_t t0 = 0; t0 < n;) {
    const int64_t left = n - t0, nv = left > 64 || (left > 32 && left <= 48) ? 3 : left > 16 ? 2 : 1;
    for (int64_t o0 = 0; o0 < O; o0 += 8) {
      const float* ut = u + o0 * C;
      float* mt = m + o0 * ldm + t0;
      const int rows = int(std::min<int64_t>(8, O - o0));
      if (nv == 3)
        product_tile<8, 3>(C, ut, v + t0, ldv, mt, ldm, rows, left);
      else if (nv == 2)
        product_tile<8, 2>(C, ut, v + t0, ldv, mt, ldm, rows, left);
      else
        product_tile<8, 1>(C, ut, v + t0, ldv, mt, ldm, rows, left);
    }
    t0 += 16 * nv;
  }
}

// The adjoint of the output transform, for the weight gradient: dM[xi][o][t + l] = (A4 dY A2^T)[xi]
// of the 4 x 2 gradients dY of the tiles (th, tw0 + l), l < 16, of the bands th0 <= th < th1 of one
// sample dy [O, H, W] (zero past H x W), for every channel o; the layout and the 16-lane stores
// are the input transform's (m: dM[0][0][0] of the first band).
FM_AVX512 void winograd_output_adjoint_avx512(const float* dy, int64_t O, int64_t H, int64_t W, int64_t th0,
                                              int64_t th1, int64_t tw0, float* m, int64_t ldb, int64_t ldm,
                                              int64_t ldxi) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const int64_t s = 2 * tw0, ahead = kPrefetchPlanes * H * W;
  const __mmask16 m0 = first_lanes(W - s), m1 = first_lanes(W - s - 16);
  for (int64_t o = 0; o < O; ++o, dy += H * W, m += ldm) {
    const bool prefetch = o + kPrefetchPlanes < O;
    for (int64_t th = th0; th < th1; ++th) {
      __m512 g[kRows][2];  // g[a][b]: dY of output row 4 th + a, column b of each tile
      for (int a = 0; a < kRows; ++a) {
        if (kRows * th + a >= H) {
          g[a][0] = g[a][1] = _mm512_setzero_ps();
          continue;
        }
        const float* row = dy + (kRows * th + a) * W + s;
        if (prefetch) {
          _mm_prefetch(reinterpret_cast<const char*>(row + ahead), _MM_HINT_T0);
          _mm_prefetch(reinterpret_cast<const char*>(row + ahead + 31), _MM_HINT_T0);
        }
        const __m512 lo = _mm512_maskz_loadu_ps(m0, row), hi = _mm512_maskz_loadu_ps(m1, row + 16);
        g[a][0] = _mm512_permutex2var_ps(lo, even, hi);
        g[a][1] = _mm512_permutex2var_ps(lo, odd, hi);
      }
      store_output_adjoint(g, m + (th - th0) * ldb, ldxi);
    }
  }
}

// The adjoint of the output transform for narrow images (W <= 16), two bands per vector as the
// input transform's (winograd_input_narrow_avx512, whose note on an odd band count applies):
// column b of the tiles, image column 2 tw + b, is column j = b + 1 of narrow_columns.
FM_AVX512 void winograd_output_adjoint_narrow_avx512(const float* dy, int64_t O, int64_t H, int64_t W, int64_t th0,
                                                     int64_t th1, float* m, int64_t ldm, int64_t ldxi) {
  NarrowColumns nc;
  narrow_columns(W, nc);
  const int64_t TW = (W + 1) / 2, HW = H * W;
  for (int64_t o = 0; o < O; ++o, dy += HW, m += ldm) {
    const bool prefetch = o + kPrefetchPlanes < O;
    for (int64_t th = th0; th < th1; th += 2) {
      __m512 rows[8];  // output rows 4 th .. 4 th + 7: band th has the first four, band th + 1 the last four
      narrow_rows<8>(dy, 4 * th, H, W, prefetch, kPrefetchPlanes * HW, rows);
      __m512 g[4][2];
      for (int a = 0; a < 4; ++a)
        for (int b = 0; b < 2; ++b)
          g[a][b] = _mm512_maskz_permutex2var_ps(nc.inside[b + 1], rows[a], nc.index[b + 1], rows[a + 4]);
      store_output_adjoint(g, m + (th - th0) * TW, ldxi);
    }
  }
}

// vt [n][ldt] = v [C][n] transposed (rows ldv apart), the channels past C up to a multiple of 16
// as zeros: 16 x 16 blocks through registers.
FM_AVX512 void winograd_transpose_avx512(const float* v, int64_t C, int64_t ldv, int64_t n, float* vt, int64_t ldt) {
  for (int64_t t0 = 0; t0 < n; t0 += 16)
    for (int64_t c0 = 0; c0 < C; c0 += 16) {
      const __mmask16 tm = first_lanes(n - t0);
      __m512 r[16];
      for (int i = 0; i < 16; ++i)
        r[i] = c0 + i < C ? _mm512_maskz_loadu_ps(tm, v + (c0 + i) * ldv + t0) : _mm512_setzero_ps();
      transpose16(r);
      for (int64_t j = 0; j < std::min<int64_t>(16, n - t0); ++j) _mm512_storeu_ps(vt + (t0 + j) * ldt + c0, r[j]);
    }
}

// out [O][ldo] (+)= dm [O][n] (rows ldm apart) @ vt [n][Cp] (rows ldt apart), Cp a multiple of 16
// (overwritten when first): tiles of 8 output channels by 48 or 32 input channels (whichever
// divides Cp), or 16 by 16.
FM_AVX512 void winograd_grad_product_avx512(int64_t O, int64_t Cp, int64_t n, const float* dm, int64_t ldm,
                                            const float* vt, int64_t ldt, float* out, int64_t ldo, bool first) {
  const int64_t groups = Cp / 16, nv = groups % 3 == 0 ? 3 : groups % 2 == 0 ? 2 : 1, mr = nv == 1 ? 16 : 8;
  for (int64_t o0 = 0; o0 < O; o0 += mr) {
    const int rows = int(std::min<int64_t>(mr, O - o0));
    for (int64_t c0 = 0; c0 < Cp; c0 += 16 * nv) {
      const float *a = dm + o0 * ldm, *b = vt + c0;
      float* dst = out + o0 * ldo + c0;
      if (nv == 3)
        grad_tile<8, 3>(n, a, ldm, b, ldt, dst, ldo, rows, first);
      else if (nv == 2)
        grad_tile<8, 2>(n, a, ldm, b, ldt, dst, ldo, rows, first);
      else
        grad_tile<16, 1>(n, a, ldm, b, ldt, dst, ldo, rows, first);
    }
  }
}

}  // namespace fm::cpu::x86
