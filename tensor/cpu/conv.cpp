// tensor/cpu/conv.cpp: convolution, nearest upsampling and softmax kernels (group norm: group_norm.cpp).
//
// The convolution in terms of its column matrix. With P = Ho * Wo output pixels and R = C * k * k
// taps, the column matrix of sample b is
//
//   col[r, p] = x[b, c, oh * s - pad + ki, ow * s - pad + kj]  (0 outside the image)
//   with r = (c * k + ki) * k + kj, p = oh * Wo + ow,
//
// so row r is the input channel c shifted by the tap (ki, kj). The weight [O, C, k, k] is already
// the matrix W[O, R]. Then
//
//   forward   y_b [O, P]  = W [O, R] @ col [R, P]          (y starts as the bias etc., beta = 1)
//   dx        dcol [R, P] = W^T [R, O] @ dy_b [O, P], then col2im adds each dcol[r, p] back
//             into the pixel that col[r, p] was read from: dx_b += ...
//   dW        sum over b of dy_b [O, P] @ col^T [P, R]
//   db        db[o] = sum over b, p of dy[b, o, p]
//
// Three ways to compute it, fastest first, each checked against the direct loops at the end of
// this file (conv2d_reference):
//   - 3x3 "same" convolutions (stride 1, pad 1) with enough channels, with AVX-512: Winograd's
//     minimal filtering F(4x2, 3x3) (conv_winograd.h), 3x fewer multiply-adds, for the forward
//     pass, dx (a convolution of the same kind, below) and dW, each over the whole batch at once.
//   - "Same" convolutions (stride 1, output size = input size, odd k), where row r is the whole
//     channel shifted by one offset with out-of-image taps masked: with AVX-512, the direct
//     kernels of conv_direct.h read those rows themselves (forward, and dx, which is the same
//     kind of convolution of dy with mirrored weights), and dW goes tap by tap from a
//     channels-last copy of each sample; otherwise the implicit GEMM of conv_pack.h packs the
//     rows straight into sgemm's panels. No column matrix is stored.
//   - A 1x1 kernel with stride 1 and no padding: col is x_b itself. With AVX-512 it is a "same"
//     convolution of one tap for the direct kernels (forward, dx, and dW for O <= 32; conv_direct.h
//     has the measurements), dW otherwise a plain sgemm on x_b; without, a plain sgemm throughout.
//   - Anything else (the stride-2 downsampling): im2col into a per-thread buffer, then sgemm;
//     col2im for dx.
//
// Parallelism: samples are independent, so the loops run over the batch (each thread with its
// own buffers; a nested sgemm runs on one thread, while a batch of one lets sgemm use all of
// them). dW sums over the batch, so the batch is cut into a fixed number of groups that depends on
// B alone; each group accumulates its samples in order into its own partial and the partials are
// added in group order: the same bits for any thread count.
#include "tensor/cpu/kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <vector>

#include "tensor/activation.h"
#include "tensor/cpu/conv_direct.h"
#include "tensor/cpu/conv_pack.h"
#include "tensor/cpu/conv_winograd.h"
#include "tensor/cpu/cpu_features.h"
#include "tensor/cpu/gemm.h"
#include "tensor/cpu/lanes.h"
#include "tensor/cpu/parallel.h"
#include "tensor/cpu/simd.h"
#include "tensor/cpu/x86_kernels.h"

namespace fm::cpu {

namespace {


// y = exp(s (x - m)) for x <= m, s > 0. Three simple passes, because GCC will not vectorise a loop that
// clamps and then does arithmetic (it turns the clamp into branches around the maths, which
// may trap): clamp to -87 (the edge of normal floats), exponentiate, then flush what was below
// -87 to 0, as a true exp would underflow to.
FM_SIMD_CLONES void exp_shift(const float* x, float m, float s, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float d = (x[i] - m) * s;
    y[i] = d < -87.0f ? -87.0f : d;
  }
  for (int64_t i = 0; i < n; ++i) y[i] = act::fast_exp(y[i]);
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) * s < -87.0f ? 0.0f : y[i];
}

// ---- im2col / col2im -------------------------------------------------------------------------
// Output columns ow whose input column iw = ow * s - pad + kj lies inside [0, W): [lo, hi).
struct ColRange {
  int64_t lo, hi;
};
ColRange valid_cols(const Conv2dShape& s, int64_t kj) {
  const int64_t a = s.pad - kj;  // iw >= 0  <=>  ow * stride >= a
  const int64_t lo = a <= 0 ? 0 : (a + s.stride - 1) / s.stride;
  const int64_t b = s.W - 1 + s.pad - kj;  // iw <= W - 1  <=>  ow * stride <= b
  const int64_t hi = b < 0 ? 0 : std::min(s.Wo, b / s.stride + 1);
  return {std::min(lo, hi), hi};
}

// Stride 1 with the output the size of the input (2 pad = k - 1): tap (ki, kj) of every pixel
// is the channel shifted by one constant offset.
bool is_same(const Conv2dShape& s) { return s.stride == 1 && s.Ho == s.H && s.Wo == s.W; }

// Stride 2, the downsampling convolutions: each image row is read at every other float. With
// AVX-512 (avx512: cpu_features().avx512f), x86::copy_even_avx512 / add_even_avx512 in
// conv_x86.cpp do a row of up to 16 outputs as a pair of masked loads and a permute; the scalar
// loops are the portable path.
void copy_even(const float* src, float* dst, int64_t n, bool avx512) {  // dst[i] = src[2 i]
  if constexpr (kHaveX86Kernels)
    if (avx512) return x86::copy_even_avx512(src, dst, n);
  for (int64_t i = 0; i < n; ++i) dst[i] = src[2 * i];
}
void add_even(const float* src, float* dst, int64_t n, bool avx512) {  // dst[2 i] += src[i]
  if constexpr (kHaveX86Kernels)
    if (avx512) return x86::add_even_avx512(src, dst, n);
  for (int64_t i = 0; i < n; ++i) dst[2 * i] += src[i];
}

// col [R, P] from one sample x [C, H, W].
void im2col(const Conv2dShape& s, const float* x, float* col) {
  const int64_t P = s.Ho * s.Wo;
  const bool avx512 = cpu_features().avx512f;
  // A "same" convolution (stride 1, output size = input size): row r is the whole channel
  // shifted by (ki - pad) W + (kj - pad), so one long copy; then the pixels whose tap falls
  // outside the image are zeroed: those before or after the copied range (the rows above and
  // below) and the pad columns at the left and right that the shift wrapped around.
  const bool same = is_same(s);
  for (int64_t c = 0; c < s.C; ++c)
    for (int64_t ki = 0; ki < s.k; ++ki)
      for (int64_t kj = 0; kj < s.k; ++kj) {
        float* dst = col + ((c * s.k + ki) * s.k + kj) * P;
        const ColRange cr = valid_cols(s, kj);
        if (same) {
          const int64_t shift = (ki - s.pad) * s.W + (kj - s.pad);
          const int64_t lo = std::clamp<int64_t>(-shift, 0, P), hi = std::clamp<int64_t>(P - shift, lo, P);
          std::fill(dst, dst + lo, 0.0f);
          std::memcpy(dst + lo, x + c * P + lo + shift, (hi - lo) * sizeof(float));
          std::fill(dst + hi, dst + P, 0.0f);
          if (cr.lo > 0 || cr.hi < s.Wo)
            for (int64_t oh = 0; oh < s.Ho; ++oh) {
              for (int64_t ow = 0; ow < cr.lo; ++ow) dst[oh * s.Wo + ow] = 0.0f;
              for (int64_t ow = cr.hi; ow < s.Wo; ++ow) dst[oh * s.Wo + ow] = 0.0f;
            }
          continue;
        }
        for (int64_t oh = 0; oh < s.Ho; ++oh, dst += s.Wo) {
          const int64_t ih = oh * s.stride - s.pad + ki;
          if (ih < 0 || ih >= s.H) {
            for (int64_t ow = 0; ow < s.Wo; ++ow) dst[ow] = 0.0f;
            continue;
          }
          const float* src = x + (c * s.H + ih) * s.W - s.pad + kj;  // src[ow * stride] = x(ih, iw)
          for (int64_t ow = 0; ow < cr.lo; ++ow) dst[ow] = 0.0f;
          if (s.stride == 1)
            std::memcpy(dst + cr.lo, src + cr.lo, (cr.hi - cr.lo) * sizeof(float));
          else if (s.stride == 2)
            copy_even(src + 2 * cr.lo, dst + cr.lo, cr.hi - cr.lo, avx512);
          else
            for (int64_t ow = cr.lo; ow < cr.hi; ++ow) dst[ow] = src[ow * s.stride];
          for (int64_t ow = cr.hi; ow < s.Wo; ++ow) dst[ow] = 0.0f;
        }
      }
}

// dx [C, H, W] += the columns of dcol [R, P] scattered back to the pixels they were read from.
// dcol is scratch: for a "same" convolution its out-of-image taps are zeroed in place, so that
// each row can go back as one long shifted add (the mirror image of im2col's long copy).
void col2im_add(const Conv2dShape& s, float* dcol, float* dx) {
  const int64_t P = s.Ho * s.Wo;
  const bool avx512 = cpu_features().avx512f;
  const bool same = is_same(s);
  for (int64_t c = 0; c < s.C; ++c)
    for (int64_t ki = 0; ki < s.k; ++ki)
      for (int64_t kj = 0; kj < s.k; ++kj) {
        float* src = dcol + ((c * s.k + ki) * s.k + kj) * P;
        const ColRange cr = valid_cols(s, kj);
        if (same) {
          if (cr.lo > 0 || cr.hi < s.Wo)
            for (int64_t oh = 0; oh < s.Ho; ++oh) {
              for (int64_t ow = 0; ow < cr.lo; ++ow) src[oh * s.Wo + ow] = 0.0f;
              for (int64_t ow = cr.hi; ow < s.Wo; ++ow) src[oh * s.Wo + ow] = 0.0f;
            }
          const int64_t shift = (ki - s.pad) * s.W + (kj - s.pad);
          const int64_t lo = std::clamp<int64_t>(-shift, 0, P), hi = std::clamp<int64_t>(P - shift, lo, P);
          float* dst = dx + c * P + shift;
          for (int64_t p = lo; p < hi; ++p) dst[p] += src[p];
          continue;
        }
        for (int64_t oh = 0; oh < s.Ho; ++oh, src += s.Wo) {
          const int64_t ih = oh * s.stride - s.pad + ki;
          if (ih < 0 || ih >= s.H) continue;
          float* dst = dx + (c * s.H + ih) * s.W - s.pad + kj;
          if (s.stride == 1)
            for (int64_t ow = cr.lo; ow < cr.hi; ++ow) dst[ow] += src[ow];
          else if (s.stride == 2)
            add_even(src + cr.lo, dst + 2 * cr.lo, cr.hi - cr.lo, avx512);
          else
            for (int64_t ow = cr.lo; ow < cr.hi; ++ow) dst[ow * s.stride] += src[ow];
        }
      }
}

bool is_pointwise(const Conv2dShape& s) { return s.k == 1 && s.stride == 1 && s.pad == 0; }

// out = beta * out + v (beta 0 never reads out).
inline void store(float& out, float beta, float v) { out = beta == 0.0f ? v : out + v; }

}  // namespace

// ---- convolution -------------------------------------------------------------------------------
Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, int stride, int pad,
                      const ConvAddends& add) {
  const Conv2dShape s = conv2d_shape(x.shape(), w.shape(), bias, stride, pad);
  const int64_t P = s.Ho * s.Wo, R = s.C * s.k * s.k;
  Tensor y = Tensor::empty({s.B, s.O, s.Ho, s.Wo});
  if (add.sample_bias.defined() && add.sample_bias.shape() != Shape{s.B, s.O})
    throw std::runtime_error("conv2d: the per-sample bias must be " + shape_str({s.B, s.O}) + ", got " +
                             shape_str(add.sample_bias.shape()));
  if (add.residual.defined()) check_same_shape(add.residual, y, "conv2d: the residual");
  const float *px = x.data(), *pw = w.data(), *pb = bias.defined() ? bias.data() : nullptr;
  const float* psb = add.sample_bias.defined() ? add.sample_bias.data() : nullptr;
  const float* pres = add.residual.defined() ? add.residual.data() : nullptr;
  const bool init = pb || psb || pres;  // y starts from the addends, and the product accumulates
  float* py = y.data();
  // A "same" k x k convolution packs its column matrix straight from the image (conv_pack.h); a
  // 1x1 one goes this way too where the direct kernels take it (DirectConv::available).
  const int64_t taps = s.k * s.k;
  const bool implicit = is_same(s) && (!is_pointwise(s) || DirectConv::available(s.O, P, taps));
  if (implicit && WinogradConv::suits(s)) {  // 3x3 "same" with enough channels (conv_winograd.h)
    WinogradConv(s, pw).run(px, py, pb, psb, pres, false);
    return y;
  }
  const std::optional<Im2colPacker> packer = implicit ? std::optional<Im2colPacker>(s) : std::nullopt;
  // With AVX-512 the direct kernels read the image without packing at all (conv_direct.h).
  const std::optional<DirectConv> direct =
      implicit && DirectConv::available(s.O, P, taps) ? std::optional<DirectConv>(std::in_place, s, pw, *packer) : std::nullopt;
  parallel_for(s.B, grain_for(s.O * P * R), [&](int64_t lo, int64_t hi) {
    float* col = is_pointwise(s) || implicit ? nullptr : thread_scratch(R * P);
    for (int64_t b = lo; b < hi; ++b) {
      const float* xb = px + b * s.C * s.H * s.W;
      float* yb = py + b * s.O * P;
      for (int64_t o = 0; init && o < s.O; ++o) {  // y_b = b[o] + sample_bias[b, o] + residual_b
        const float c = (pb ? pb[o] : 0.0f) + (psb ? psb[b * s.O + o] : 0.0f);
        float* yo = yb + o * P;
        if (pres)
          for (int64_t p = 0; p < P; ++p) yo[p] = pres[(b * s.O + o) * P + p] + c;
        else
          std::fill(yo, yo + P, c);
      }
      const float beta = init ? 1.0f : 0.0f;
      if (direct) {
        direct->run(xb, yb, init);
        continue;
      }
      if (implicit) {
        sgemm_implicit_b(false, s.O, P, R, 1.0f, pw, R,
                         [&](int64_t k0, int64_t kc, int64_t j0, int64_t n, int nr, float* dst) {
                           packer->pack(xb, k0, kc, j0, n, nr, dst);
                         },
                         beta, yb, P);
        continue;
      }
      if (col) im2col(s, xb, col);
      sgemm(false, false, s.O, P, R, 1.0f, pw, R, col ? col : xb, P, beta, yb, P);
    }
  });
  return y;
}

namespace {

// The loop both backward paths share: the batch cut into `groups` (a function of the shape), the
// groups in parallel and the samples of a group in order. body(g, b, first) gets sample b of group
// g (first: the group's first sample, whose partial starts afresh); each sample's bias gradient
// sum_p dy[b, o, p] is added into part_b[g] on the way.
template <class Body>
void for_each_sample(const Conv2dShape& s, const float* pg, double* part_b, int64_t groups, int64_t work_per_sample,
                     const Body& body) {
  const int64_t P = s.Ho * s.Wo;
  parallel_for(groups, grain_for(s.B / groups * work_per_sample), [&](int64_t lo, int64_t hi) {
    for (int64_t g = lo; g < hi; ++g)
      for (int64_t b = s.B * g / groups; b < s.B * (g + 1) / groups; ++b) {
        if (part_b)
          for (int64_t o = 0; o < s.O; ++o) part_b[g * s.O + o] += lane_sum(pg + (b * s.O + o) * P, P);
        body(g, b, b == s.B * g / groups);
      }
  });
}

// Backward of a "same" k x k convolution (stride 1, odd k) with no column matrix at all:
//   dx_b [C, P] = W' [C, O k k] @ col(dy_b): the transposed convolution of a stride-1 "same"
//        convolution is again one, with W'[c, o, ki, kj] = w[o, c, k-1-ki, k-1-kj] (a mirrored
//        tap moves by -shift), so it runs through the forward pass's implicit GEMM;
//   dW [O, R] += dy_b [O, P] @ col(x_b)^T, the transposed column matrix packed straight from x_b;
//   db[o] += sum_p dy_b[o, p].
// Samples are split into `groups` (a function of the shape) as in conv2d_backward below.
void conv2d_backward_same(const Conv2dShape& s, const float* px, const float* pw, const float* pg, float* pdx,
                          float beta_x, float* part_w, double* part_b, int64_t groups, bool direct_w) {
  const int64_t P = s.Ho * s.Wo, R = s.C * s.k * s.k, taps = s.k * s.k, CHW = s.C * s.H * s.W;
  Conv2dShape st = s;  // dy [B, O, H, W] convolved down to C channels
  st.C = s.O, st.O = s.C;
  const Im2colPacker pack_x(s), pack_dy(st);
  std::vector<float> wt(pdx ? s.C * s.O * taps : 0);  // W' [C, O, k, k]
  for (int64_t o = 0; pdx && o < s.O; ++o)
    for (int64_t c = 0; c < s.C; ++c)
      for (int64_t t = 0; t < taps; ++t) wt[(c * s.O + o) * taps + (taps - 1 - t)] = pw[(o * s.C + c) * taps + t];
  // dx by Winograd runs over the whole batch at once, before the per-sample loop (which then
  // leaves dx alone).
  if (pdx && WinogradConv::suits(st)) {
    WinogradConv(st, wt.data()).run(pg, pdx, nullptr, nullptr, nullptr, beta_x != 0.0f);
    pdx = nullptr;
  }
  const std::optional<DirectConv> direct_dx =
      pdx && DirectConv::available(st.O, P, taps) ? std::optional<DirectConv>(std::in_place, st, wt.data(), pack_dy) : std::nullopt;
  const std::optional<DirectWeightGrad> direct_dw =
      part_w && direct_w ? std::optional<DirectWeightGrad>(std::in_place, s) : std::nullopt;
  for_each_sample(s, pg, part_b, groups, 3 * s.O * P * R, [&](int64_t g, int64_t b, bool first) {
    const float* xb = px + b * CHW;
    const float* gb = pg + b * s.O * P;
    if (direct_dw)  // part_g [k k, O, C]
      direct_dw->accumulate(xb, gb, part_w + g * s.O * R, first);
    else if (part_w && is_pointwise(s))  // part_g [R, O] (+)= x_b [C, P] @ dy_b^T, as the im2col path
      sgemm(false, true, R, s.O, P, 1.0f, xb, P, gb, P, first ? 0.0f : 1.0f, part_w + g * R * s.O, s.O);
    else if (part_w)  // part_g [O, R]
      sgemm_implicit_b(false, s.O, R, P, 1.0f, gb, P,
                       [&](int64_t k0, int64_t kc, int64_t j0, int64_t n, int nr, float* dst) {
                         pack_x.pack_transposed(xb, k0, kc, j0, n, nr, dst);
                       },
                       first ? 0.0f : 1.0f, part_w + g * s.O * R, R);
    if (direct_dx)
      direct_dx->run(gb, pdx + b * CHW, beta_x != 0.0f);
    else if (pdx)
      sgemm_implicit_b(false, s.C, P, s.O * taps, 1.0f, wt.data(), s.O * taps,
                       [&](int64_t k0, int64_t kc, int64_t j0, int64_t n, int nr, float* dst) {
                         pack_dy.pack(gb, k0, kc, j0, n, nr, dst);
                       },
                       beta_x, pdx + b * CHW, P);
  });
}

// Backward through the column matrix, for any convolution (see the top of the file):
//   dW^T [R, O] += col(x_b) [R, P] @ dy_b^T,  dcol = W^T [R, O] @ dy_b then col2im into dx_b.
void conv2d_backward_im2col(const Conv2dShape& s, const float* px, const float* pw, const float* pg, float* pdx,
                            float beta_x, float* part_w, double* part_b, int64_t groups) {
  const int64_t P = s.Ho * s.Wo, R = s.C * s.k * s.k, CHW = s.C * s.H * s.W;
  for_each_sample(s, pg, part_b, groups, 2 * s.O * P * R, [&](int64_t g, int64_t b, bool first) {
    float* col = is_pointwise(s) ? nullptr : thread_scratch(R * P);
    const float* xb = px + b * CHW;
    const float* gb = pg + b * s.O * P;
    if (part_w) {  // part_g [R, O] (+)= col [R, P] @ dy_b^T
      if (col) im2col(s, xb, col);
      sgemm(false, true, R, s.O, P, 1.0f, col ? col : xb, P, gb, P, first ? 0.0f : 1.0f, part_w + g * R * s.O, s.O);
    }
    if (pdx) {
      float* dxb = pdx + b * CHW;
      if (!col) {  // pointwise: dx_b [C, P] (+)= W^T [C, O] @ dy_b [O, P] directly
        sgemm(true, false, s.C, P, s.O, 1.0f, pw, s.C, gb, P, beta_x, dxb, P);
        return;
      }
      sgemm(true, false, R, P, s.O, 1.0f, pw, R, gb, P, 0.0f, col, P);  // dcol, reusing col
      if (beta_x == 0.0f) std::fill(dxb, dxb + CHW, 0.0f);
      col2im_add(s, col, dxb);
    }
  });
}

}  // namespace

void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, int stride, int pad,
                     Tensor* dx, float beta_x, Tensor* dw, float beta_w, Tensor* db, float beta_b) {
  const Conv2dShape s = conv2d_shape(x.shape(), w.shape(), Tensor(), stride, pad);
  const int64_t R = s.C * s.k * s.k;
  check_grad_shape(&dy, {s.B, s.O, s.Ho, s.Wo}, "conv2d backward (dy)");
  check_grad_shape(dx, x.shape(), "conv2d backward (dx)");
  check_grad_shape(dw, w.shape(), "conv2d backward (dw)");
  check_grad_shape(db, {s.O}, "conv2d backward (db)");
  const float *px = x.data(), *pw = w.data(), *pg = dy.data();
  if (!dx && !dw && !db) return;
  if (s.B == 0) {  // no samples: the gradients of a sum over nothing are zero
    if (dw && beta_w == 0.0f) dw->fill(0.0f);
    if (db && beta_b == 0.0f) db->fill(0.0f);
    return;
  }
  // dW by Winograd (conv_winograd.h) goes over the whole batch on its own; the rest leaves dw alone.
  if (dw && is_same(s) && WinogradWeightGrad::suits(s)) {
    WinogradWeightGrad(s).run(px, pg, dw->data(), beta_w);
    dw = nullptr;
    if (!dx && !db) return;
  }

  // Groups: a function of the shape only (at most 16, and at most ~16 MiB of dW partials).
  const int64_t groups = dw ? std::clamp<int64_t>((int64_t(4) << 20) / (R * s.O), 1, std::min<int64_t>(s.B, 16)) : s.B;
  // dW of each group; its first sample overwrites it. From the tensor allocator: no zero fill, and
  // no new memory in the steady state.
  Tensor part_t = dw ? Tensor::empty({groups * R * s.O}) : Tensor();
  float* part = dw ? part_t.data() : nullptr;
  std::vector<double> part_b(db ? groups * s.O : 0);   // db of each group
  // The dW partials come in the layout of the path that made them: [R, O] (im2col), [O, R]
  // (implicit GEMM) or [k k, O, C] (direct kernels).
  const bool same = is_same(s) && s.k % 2 == 1 && (!is_pointwise(s) || DirectConv::available(s.C, s.Ho * s.Wo, 1));
  const bool direct_w = same && dw && DirectWeightGrad::suits(s);
  // (A 1x1 convolution's dW that the direct kernels do not take is a plain sgemm, [R, O], there.)
  const bool gemm_w = same && dw && is_pointwise(s) && !direct_w;
  if (same)
    conv2d_backward_same(s, px, pw, pg, dx ? dx->data() : nullptr, beta_x, part,
                         db ? part_b.data() : nullptr, groups, direct_w);
  else
    conv2d_backward_im2col(s, px, pw, pg, dx ? dx->data() : nullptr, beta_x, part,
                           db ? part_b.data() : nullptr, groups);
  // dw[o, r] (+)= sum over groups of part_g[r, o], db[o] (+)= sum over groups, in group order.
  float *pdw = dw ? dw->data() : nullptr, *pdb = db ? db->data() : nullptr;
  parallel_for(s.O, grain_for(R * groups), [&](int64_t lo, int64_t hi) {
    for (int64_t o = lo; o < hi; ++o) {
      for (int64_t r = 0; pdw && r < R; ++r) {
        float acc = 0.0f;
        const int64_t taps = s.k * s.k, c = r / taps, t = r % taps;
        for (int64_t g = 0; g < groups; ++g)
          acc += direct_w          ? part[((g * taps + t) * s.O + o) * s.C + c]
                 : same && !gemm_w ? part[(g * s.O + o) * R + r]
                                   : part[(g * R + r) * s.O + o];
        store(pdw[o * R + r], beta_w, acc);
      }
      if (pdb) {
        double acc = 0.0;
        for (int64_t g = 0; g < groups; ++g) acc += part_b[g * s.O + o];
        store(pdb[o], beta_b, float(acc));
      }
    }
  });
}

Tensor conv2d_reference(const Tensor& x, const Tensor& w, const Tensor& bias, int stride, int pad) {
  const Conv2dShape s = conv2d_shape(x.shape(), w.shape(), bias, stride, pad);
  Tensor y = Tensor::empty({s.B, s.O, s.Ho, s.Wo});
  const float *px = x.data(), *pw = w.data();
  float* py = y.data();
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t o = 0; o < s.O; ++o)
      for (int64_t oh = 0; oh < s.Ho; ++oh)
        for (int64_t ow = 0; ow < s.Wo; ++ow) {
          double acc = bias.defined() ? bias.data()[o] : 0.0;
          for (int64_t c = 0; c < s.C; ++c)
            for (int64_t ki = 0; ki < s.k; ++ki)
              for (int64_t kj = 0; kj < s.k; ++kj) {
                const int64_t ih = oh * stride - pad + ki, iw = ow * stride - pad + kj;
                if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
                acc += double(pw[((o * s.C + c) * s.k + ki) * s.k + kj]) * px[((b * s.C + c) * s.H + ih) * s.W + iw];
              }
          py[((b * s.O + o) * s.Ho + oh) * s.Wo + ow] = float(acc);
        }
  return y;
}

void conv2d_backward_reference(const Tensor& x, const Tensor& w, const Tensor& dy, int stride, int pad,
                               Tensor* dx, Tensor* dw, Tensor* db) {
  const Conv2dShape s = conv2d_shape(x.shape(), w.shape(), Tensor(), stride, pad);
  std::vector<double> gx(x.numel()), gw(w.numel()), gb(s.O);
  const float *px = x.data(), *pw = w.data(), *pg = dy.data();
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t o = 0; o < s.O; ++o)
      for (int64_t oh = 0; oh < s.Ho; ++oh)
        for (int64_t ow = 0; ow < s.Wo; ++ow) {
          const double g = pg[((b * s.O + o) * s.Ho + oh) * s.Wo + ow];
          gb[o] += g;
          for (int64_t c = 0; c < s.C; ++c)
            for (int64_t ki = 0; ki < s.k; ++ki)
              for (int64_t kj = 0; kj < s.k; ++kj) {
                const int64_t ih = oh * stride - pad + ki, iw = ow * stride - pad + kj;
                if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
                const int64_t iwt = ((o * s.C + c) * s.k + ki) * s.k + kj, ix = ((b * s.C + c) * s.H + ih) * s.W + iw;
                gx[ix] += g * pw[iwt];
                gw[iwt] += g * px[ix];
              }
        }
  auto put = [](Tensor* t, const std::vector<double>& v) {
    if (t)
      for (size_t i = 0; i < v.size(); ++i) t->data()[i] = float(v[i]);
  };
  put(dx, gx);
  put(dw, gw);
  put(db, gb);
}

// ---- nearest 2x upsampling ---------------------------------------------------------------------
Tensor upsample_nearest2x_forward(const Tensor& x) {
  const int64_t planes = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3);
  Tensor y = Tensor::empty({x.dim(0), x.dim(1), 2 * H, 2 * W});
  const float* px = x.data();
  float* py = y.data();
  parallel_for(planes * H, grain_for(4 * W), [&](int64_t lo, int64_t hi) {
    for (int64_t row = lo; row < hi; ++row) {  // input row -> output rows 2h and 2h + 1
      const float* src = px + row * W;
      float* dst = py + row * 4 * W;
      for (int64_t w = 0; w < W; ++w) dst[2 * w] = dst[2 * w + 1] = src[w];
      std::copy(dst, dst + 2 * W, dst + 2 * W);
    }
  });
  return y;
}

void upsample_nearest2x_backward(const Tensor& dy, Tensor& dx, float beta) {
  const int64_t W = dx.dim(3);
  const float* pg = dy.data();
  float* pd = dx.data();
  parallel_for(dx.dim(0) * dx.dim(1) * dx.dim(2), grain_for(4 * W), [&](int64_t lo, int64_t hi) {
    for (int64_t row = lo; row < hi; ++row) {
      const float *g0 = pg + row * 4 * W, *g1 = g0 + 2 * W;
      float* d = pd + row * W;
      for (int64_t w = 0; w < W; ++w) store(d[w], beta, (g0[2 * w] + g0[2 * w + 1]) + (g1[2 * w] + g1[2 * w + 1]));
    }
  });
}

// ---- softmax -----------------------------------------------------------------------------------
Tensor softmax_forward(const Tensor& x, float scale) {
  const int64_t n = x.dim(-1), rows = x.numel() / n;
  Tensor y = Tensor::empty(x.shape());
  const float* px = x.data();
  float* py = y.data();
  parallel_for(rows, grain_for(8 * n), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const float* xr = px + i * n;
      float* yr = py + i * n;
      exp_shift(xr, lane_max(xr, n), scale, yr, n);  // max(s x) = s max(x) for s > 0
      const float inv = float(1.0 / lane_sum(yr, n));  // the sum is >= 1 (the max gives e^0)
      for (int64_t j = 0; j < n; ++j) yr[j] *= inv;
    }
  });
  return y;
}

void softmax_backward(const Tensor& y, const Tensor& dy, float scale, Tensor& dx, float beta) {
  check_same_shape(y, dy, "softmax backward (dy)");
  check_same_shape(y, dx, "softmax backward (dx)");
  const int64_t n = y.dim(-1), rows = y.numel() / n;
  const float *py = y.data(), *pg = dy.data();
  float* pd = dx.data();
  parallel_for(rows, grain_for(8 * n), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const float *yr = py + i * n, *gr = pg + i * n;
      float* dr = pd + i * n;
      const float dot = float(lane_dot_centered(gr, yr, 0.0f, n));  // sum dy y
      for (int64_t j = 0; j < n; ++j) store(dr[j], beta, scale * yr[j] * (gr[j] - dot));
    }
  });
}

}  // namespace fm::cpu
