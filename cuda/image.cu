// cuda/image.cu: group norm (+ SiLU), nearest 2x upsampling, softmax and the timestep embedding on
// the GPU. One block per (sample, group) or per row, with double sums folded in a fixed tree
// (reduce.cuh): deterministic, and within float rounding of the CPU kernels (the same formulas,
// tensor/ops.h; the activations' math shared through tensor/activation.h).
#include <cmath>
#include <stdexcept>
#include <string>

#include "cuda/device.h"
#include "cuda/kernels.h"
#include "cuda/reduce.cuh"
#include "tensor/activation.h"

namespace fm::cuda {

namespace {

// The sum of one value per thread over the block, in double (a fixed tree); every thread gets it.
__device__ double block_sum(double v, double* shared) {
  shared[threadIdx.x] = v;
  fold_block(shared);
  const double total = shared[0];
  __syncthreads();
  return total;
}

const float* opt_ptr(const Tensor& t) { return t.defined() ? ptr(t) : nullptr; }
float* opt_ptr(Tensor* t) { return t ? ptr(*t) : nullptr; }

__device__ inline void store(float& out, float beta, float v) { out = beta == 0.0f ? v : out + v; }

// Block bg = (b, g): mean, biased variance around it, then y = x a + b per channel (silu optional).
__global__ void gn_forward_kernel(const float* x, const float* gamma, const float* beta, float eps, float* y, float* mean,
                                  float* rstd, int64_t G, int64_t cpg, int64_t hw, bool silu) {
  __shared__ double shared[kThreads];
  const int64_t bg = blockIdx.x, n = cpg * hw;
  const float* xg = x + bg * n;
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += xg[i];
  const float m = float(block_sum(s, shared) / double(n));
  double ss = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) ss += double(xg[i] - m) * (xg[i] - m);
  const float r = float(1.0 / sqrt(block_sum(ss, shared) / double(n) + eps));
  if (threadIdx.x == 0) mean[bg] = m, rstd[bg] = r;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const int64_t c = (bg % G) * cpg + i / hw;
    const float a = r * (gamma ? gamma[c] : 1.0f), b = (beta ? beta[c] : 0.0f) - m * a;
    const float z = xg[i] * a + b;
    y[bg * n + i] = silu ? act::Silu::f(z) : z;
  }
}

// The gradient reaching the normalised value: dy, or with SiLU dy silu'(z).
__device__ inline float gn_grad(const float* x, const float* dy, int64_t i, float a, float b, bool silu) {
  return silu ? dy[i] * act::Silu::df(x[i] * a + b, 0.0f) : dy[i];
}

// Block (b, c): s1 = sum g, s2 = r sum g (x - m) over the channel's hw elements.
__global__ void gn_channel_sums_kernel(const float* x, const float* dy, const float* gamma, const float* beta,
                                       const float* mean, const float* rstd, double* s1, double* s2, int64_t C, int64_t G,
                                       int64_t hw, bool silu) {
  __shared__ double shared[kThreads];
  const int64_t bc = blockIdx.x, b = bc / C, c = bc % C, bg = b * G + c / (C / G);
  const float m = mean[bg], r = rstd[bg];
  const float a = r * (gamma ? gamma[c] : 1.0f), bb = (beta ? beta[c] : 0.0f) - m * a;
  const float* xc = x + bc * hw;
  const float* gc = dy + bc * hw;
  double p1 = 0.0, p2 = 0.0;
  for (int64_t i = threadIdx.x; i < hw; i += blockDim.x) {
    const float g = gn_grad(xc, gc, i, a, bb, silu);
    p1 += g;
    p2 += double(g) * (xc[i] - m);
  }
  const double t1 = block_sum(p1, shared), t2 = block_sum(p2, shared);
  if (threadIdx.x == 0) s1[bc] = t1, s2[bc] = t2 * r;
}

// Block bg: dx (+)= r (gamma g - mean1 - (x - m) r mean2), mean1/2 over the group's channels.
__global__ void gn_dx_kernel(const float* x, const float* dy, const float* gamma, const float* beta, const float* mean,
                             const float* rstd, const double* s1, const double* s2, float* dx, float beta_x, int64_t C,
                             int64_t G, int64_t cpg, int64_t hw, bool silu) {
  const int64_t bg = blockIdx.x, b = bg / G, c0 = (bg % G) * cpg, n = cpg * hw;
  const float m = mean[bg], r = rstd[bg];
  double m1 = 0.0, m2 = 0.0;
  for (int64_t cc = 0; cc < cpg; ++cc) {
    const double ga = gamma ? gamma[c0 + cc] : 1.0;
    m1 += ga * s1[b * C + c0 + cc];
    m2 += ga * s2[b * C + c0 + cc];
  }
  const float mean1 = float(m1 / double(n)), mean2 = float(m2 / double(n));
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const int64_t c = c0 + i / hw;
    const float ga = gamma ? gamma[c] : 1.0f;
    const float a = r * ga, bb = (beta ? beta[c] : 0.0f) - m * a;
    const float g = gn_grad(x + bg * n, dy + bg * n, i, a, bb, silu);
    const float v = r * ga * g + -r * mean1 + (x[bg * n + i] - m) * (-r * r * mean2);
    store(dx[bg * n + i], beta_x, v);
  }
}

// dgamma[c] (+)= sum_b s2[b, c], dbeta[c] (+)= sum_b s1[b, c], b ascending.
__global__ void gn_affine_grads_kernel(const double* s1, const double* s2, float* dgamma, float beta_g, float* dbeta,
                                       float beta_b, int64_t B, int64_t C) {
  FM_CUDA_LOOP(c, C) {
    double a1 = 0.0, a2 = 0.0;
    for (int64_t b = 0; b < B; ++b) a1 += s1[b * C + c], a2 += s2[b * C + c];
    if (dgamma) store(dgamma[c], beta_g, float(a2));
    if (dbeta) store(dbeta[c], beta_b, float(a1));
  }
}

__global__ void upsample_kernel(const float* x, float* y, int64_t H, int64_t W, int64_t n) {
  FM_CUDA_LOOP(o, n) {  // o indexes y [planes, 2H, 2W]
    const int64_t ow = o % (2 * W), oh = (o / (2 * W)) % (2 * H), plane = o / (4 * H * W);
    y[o] = x[(plane * H + oh / 2) * W + ow / 2];
  }
}

__global__ void upsample_backward_kernel(const float* dy, float* dx, float beta, int64_t W, int64_t n) {
  FM_CUDA_LOOP(i, n) {  // i indexes dx [planes * H, W]
    const int64_t row = i / W, w = i % W;
    const float *g0 = dy + row * 4 * W, *g1 = g0 + 2 * W;
    store(dx[i], beta, (g0[2 * w] + g0[2 * w + 1]) + (g1[2 * w] + g1[2 * w + 1]));
  }
}

// One block per row: y = exp(s (x - max)) / sum, with the CPU's clamp-and-flush exponential.
__global__ void softmax_kernel(const float* x, float* y, float s, int64_t n) {
  __shared__ double shared[kThreads];
  __shared__ float fmax_shared[kThreads];
  const float* xr = x + blockIdx.x * n;
  float* yr = y + blockIdx.x * n;
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) mx = fmaxf(mx, xr[j]);
  fmax_shared[threadIdx.x] = mx;
  for (int k = int(blockDim.x) / 2; k > 0; k /= 2) {
    __syncthreads();
    if (int(threadIdx.x) < k) fmax_shared[threadIdx.x] = fmaxf(fmax_shared[threadIdx.x], fmax_shared[threadIdx.x + k]);
  }
  __syncthreads();
  const float m = fmax_shared[0];
  double sum = 0.0;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
    const float d = (xr[j] - m) * s;
    const float e = d < -87.0f ? 0.0f : act::fast_exp(d);
    yr[j] = e;
    sum += e;
  }
  const float inv = float(1.0 / block_sum(sum, shared));
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) yr[j] *= inv;
}

__global__ void softmax_backward_kernel(const float* y, const float* dy, float s, float* dx, float beta, int64_t n) {
  __shared__ double shared[kThreads];
  const float *yr = y + blockIdx.x * n, *gr = dy + blockIdx.x * n;
  float* dr = dx + blockIdx.x * n;
  double p = 0.0;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) p += double(gr[j]) * yr[j];
  const float dot = float(block_sum(p, shared));
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) store(dr[j], beta, s * yr[j] * (gr[j] - dot));
}

__global__ void embedding_kernel(const float* t, float* out, int dim, int64_t half, float scale, float max_period,
                                 int64_t n) {
  FM_CUDA_LOOP(w, n) {  // w indexes (b, i < half)
    const int64_t b = w / half, i = w % half;
    const double freq = exp(-log(double(max_period)) * double(i) / double(half));
    const double arg = double(scale) * double(t[b]) * freq;
    out[b * dim + i] = float(cos(arg));
    out[b * dim + half + i] = float(sin(arg));
  }
}

unsigned as_grid(int64_t blocks, const char* what) {
  if (blocks > 2147483647) throw std::runtime_error(std::string(what) + ": too many blocks");
  return unsigned(blocks);
}

}  // namespace

Tensor group_norm_forward(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps, Tensor& mean,
                          Tensor& rstd, bool silu) {
  const GroupNormShape s = group_norm_shape(x, groups, gamma, beta);
  Tensor y = Tensor::empty(x.shape(), Device::CUDA);
  mean = Tensor::empty({s.B, s.G}, Device::CUDA);
  rstd = Tensor::empty({s.B, s.G}, Device::CUDA);
  if (x.numel() == 0) return y;
  FM_LAUNCH(gn_forward_kernel, as_grid(s.B * s.G, "group_norm"), row_threads(s.cpg * s.hw), 0, stream())(
      ptr(x), opt_ptr(gamma), opt_ptr(beta), eps, ptr(y), ptr(mean), ptr(rstd), s.G, s.cpg, s.hw, silu);
  launched("group_norm_forward");
  return y;
}

void group_norm_backward(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                         const Tensor& rstd, const Tensor& dy, bool silu, Tensor* dx, float beta_x, Tensor* dgamma,
                         float beta_g, Tensor* dbeta, float beta_b) {
  const GroupNormShape s = group_norm_shape(x, groups, gamma, silu ? beta : Tensor());
  if (x.numel() == 0) {  // no elements: the affine gradients of nothing are zero
    if (dgamma && beta_g == 0.0f) cuda::fill(ptr(*dgamma), 0.0f, size_t(dgamma->numel()));
    if (dbeta && beta_b == 0.0f) cuda::fill(ptr(*dbeta), 0.0f, size_t(dbeta->numel()));
    return;
  }
  size_t bytes = size_t(2 * s.B * s.C) * sizeof(double);
  double* sums = static_cast<double*>(cuda::alloc(bytes));
  double *s1 = sums, *s2 = sums + s.B * s.C;
  const float* pbeta = silu ? opt_ptr(beta) : nullptr;
  FM_LAUNCH(gn_channel_sums_kernel, as_grid(s.B * s.C, "group_norm"), row_threads(s.hw), 0, stream())(
      ptr(x), ptr(dy), opt_ptr(gamma), pbeta, ptr(mean), ptr(rstd), s1, s2, s.C, s.G, s.hw, silu);
  launched("group_norm_backward sums");
  if (dx) {
    FM_LAUNCH(gn_dx_kernel, as_grid(s.B * s.G, "group_norm"), row_threads(s.cpg * s.hw), 0, stream())(
        ptr(x), ptr(dy), opt_ptr(gamma), pbeta, ptr(mean), ptr(rstd), s1, s2, ptr(*dx), beta_x, s.C, s.G, s.cpg, s.hw, silu);
    launched("group_norm_backward dx");
  }
  if (dgamma || dbeta) {
    FM_LAUNCH(gn_affine_grads_kernel, grid_for(s.C), kThreads, 0, stream())(s1, s2, opt_ptr(dgamma), beta_g, opt_ptr(dbeta), beta_b,
                                                                     s.B, s.C);
    launched("group_norm_backward affine");
  }
  cuda::free(sums, bytes);  // stream order: reused only by later work
}

Tensor upsample_nearest2x_forward(const Tensor& x) {
  Tensor y = Tensor::empty({x.dim(0), x.dim(1), 2 * x.dim(2), 2 * x.dim(3)}, Device::CUDA);
  if (y.numel() == 0) return y;
  FM_LAUNCH(upsample_kernel, grid_for(y.numel()), kThreads, 0, stream())(ptr(x), ptr(y), x.dim(2), x.dim(3), y.numel());
  launched("upsample_nearest2x");
  return y;
}

void upsample_nearest2x_backward(const Tensor& dy, Tensor& dx, float beta) {
  if (dx.numel() == 0) return;
  FM_LAUNCH(upsample_backward_kernel, grid_for(dx.numel()), kThreads, 0, stream())(ptr(dy), ptr(dx), beta, dx.dim(3), dx.numel());
  launched("upsample_nearest2x_backward");
}

Tensor softmax_forward(const Tensor& x, float scale) {
  const int64_t n = x.dim(-1), rows = x.numel() / n;
  Tensor y = Tensor::empty(x.shape(), Device::CUDA);
  if (rows == 0) return y;
  FM_LAUNCH(softmax_kernel, as_grid(rows, "softmax"), row_threads(n), 0, stream())(ptr(x), ptr(y), scale, n);
  launched("softmax");
  return y;
}

void softmax_backward(const Tensor& y, const Tensor& dy, float scale, Tensor& dx, float beta) {
  check_same_shape(y, dy, "softmax backward (dy)");
  check_same_shape(y, dx, "softmax backward (dx)");
  const int64_t n = y.dim(-1), rows = y.numel() / n;
  if (rows == 0) return;
  FM_LAUNCH(softmax_backward_kernel, as_grid(rows, "softmax"), row_threads(n), 0, stream())(ptr(y), ptr(dy), scale, ptr(dx), beta, n);
  launched("softmax_backward");
}

Tensor sinusoidal_embedding(const Tensor& t, int dim, float scale, float max_period) {
  const int64_t B = t.dim(0), half = dim / 2;
  Tensor out = Tensor::zeros({B, dim}, Device::CUDA);  // an odd dim leaves the last column 0
  if (B * half == 0) return out;
  FM_LAUNCH(embedding_kernel, grid_for(B * half), kThreads, 0, stream())(ptr(t), ptr(out), dim, half, scale, max_period, B * half);
  launched("sinusoidal_embedding");
  return out;
}

}  // namespace fm::cuda
