// autodiff/ops_image.h: differentiable image and attention ops for the U-Net (ops_image.cpp).
// The kernels are ops of the op list (tensor/ops.h); layouts as PyTorch (NCHW, Conv2d weight [O, C, k, k]).
// Mismatched shapes throw std::runtime_error naming them.
#pragma once
#include "autodiff/ops.h"
#include "tensor/random.h"

namespace fm {

// x [B, C, H, W], w [O, C, k, k], b [O] or undefined; zero padding `pad`, stride >= 1.
// Output [B, O, Ho, Wo] with PyTorch's Ho = (H + 2 pad - k) / stride + 1, likewise Wo.
// Optionally fused into the output: + sample_bias[b, o] ([B, O]) and + residual ([B, O, Ho, Wo]).
Var conv2d(const Var& x, const Var& w, const Var& b, int stride, int pad, const Var& sample_bias = Var(),
           const Var& residual = Var());

// torch.nn.GroupNorm(groups, C): normalise x [B, C, ...] over (C / groups, ...) per sample and
// group with the biased variance and eps inside the sqrt, then gamma [C] and beta [C] per channel
// (either may be undefined: no affine part).
Var group_norm(const Var& x, int groups, const Var& gamma, const Var& beta, float eps = 1e-5f);
// silu(group_norm(x)) in one op (one pass over memory each way instead of two).
Var group_norm_silu(const Var& x, int groups, const Var& gamma, const Var& beta, float eps = 1e-5f);

// Nearest-neighbour 2x upsampling: [B, C, H, W] -> [B, C, 2H, 2W].
Var upsample_nearest2x(const Var& x);

// Softmax over the last axis (max-subtracted).
Var softmax(const Var& x, float scale = 1.0f);  // softmax(scale x), scale > 0

// Batched product [..., M, K] @ [..., K, P] with equal leading dims; the flags transpose the
// last two dims of a or b. The batch runs in parallel.
Var bmm(const Var& a, const Var& b, bool trans_a = false, bool trans_b = false);

// [..., A, B] -> [..., B, A] (with reshape: NCHW [B, C, H*W] <-> tokens [B, H*W, C]).
Var transpose_last2(const Var& x);

// Inverted dropout: in training each element is zeroed with probability p and the rest scaled by
// 1 / (1 - p), the mask drawn from rng (reproducible); identity when !training or p == 0.
Var dropout(const Var& x, float p, bool training, Rng& rng);

// DDPM's sinusoidal timestep embedding of scale * t: with half = dim / 2,
// freq_i = exp(-log(max_period) i / half), a_i = scale t freq_i, out = [cos(a), sin(a)] (cos half
// first), plus a zero column when dim is odd. t [B] (or [B, 1]) -> [B, dim]; a constant.
Var timestep_embedding(const Tensor& t, int dim, float scale = 1000.0f, float max_period = 10000.0f);

}  // namespace fm
