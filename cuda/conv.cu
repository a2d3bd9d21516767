// cuda/conv.cu: 2-D convolution as im2col + cuBLAS (chosen for a first GPU backend: one readable
// path for every shape; an implicit GEMM would save the column matrix's memory traffic).
//
//   forward  col_b = im2col(x_b) [C k k, P],  y_b = W [O, C k k] col_b + init    (one strided-
//            batched GEMM over the samples, W's batch stride 0; init = bias, per-sample bias and
//            residual, written first so the GEMM accumulates onto it with beta = 1)
//   dx       dcol_b = W^T dy_b, then col2im gathers each input pixel's taps (no atomics)
//   dW       dW_b = dy_b col_b^T for every sample in one strided-batched GEMM, into a scratch
//            [B, O, C k k]; then dW (+)= sum_b dW_b, b ascending (deterministic), one kernel
//   db       db[o] (+)= sum over b, p of dy[b, o, p], a fixed-order block sum per channel
#include <stdexcept>

#include "cuda/device.h"
#include "cuda/kernels.h"
#include "cuda/reduce.cuh"

namespace fm::cuda {

namespace {

// col[b, (c, ki, kj), (oh, ow)] = x[b, c, oh s - pad + ki, ow s - pad + kj] (0 outside).
__global__ void im2col_kernel(const float* x, float* col, Conv2dShape s, int64_t n) {
  FM_CUDA_LOOP(w, n) {
    const int64_t P = s.Ho * s.Wo, R = s.C * s.k * s.k;
    const int64_t p = w % P, r = (w / P) % R, b = w / (P * R);
    const int64_t oh = p / s.Wo, ow = p % s.Wo, c = r / (s.k * s.k), ki = (r / s.k) % s.k, kj = r % s.k;
    const int64_t ih = oh * s.stride - s.pad + ki, iw = ow * s.stride - s.pad + kj;
    col[w] = (ih >= 0 && ih < s.H && iw >= 0 && iw < s.W) ? x[((b * s.C + c) * s.H + ih) * s.W + iw] : 0.0f;
  }
}

// dx[b, c, ih, iw] (+)= sum over the taps (ki, kj) that read it of dcol[b, (c, ki, kj), (oh, ow)].
__global__ void col2im_kernel(const float* dcol, float* dx, float beta, Conv2dShape s, int64_t n) {
  FM_CUDA_LOOP(w, n) {
    const int64_t iw = w % s.W, ih = (w / s.W) % s.H, c = (w / (s.W * s.H)) % s.C, b = w / (s.W * s.H * s.C);
    const int64_t P = s.Ho * s.Wo, R = s.C * s.k * s.k;
    float acc = 0.0f;
    for (int64_t ki = 0; ki < s.k; ++ki) {
      const int64_t th = ih + s.pad - ki;
      if (th < 0 || th % s.stride) continue;
      const int64_t oh = th / s.stride;
      if (oh >= s.Ho) continue;
      for (int64_t kj = 0; kj < s.k; ++kj) {
        const int64_t tw = iw + s.pad - kj;
        if (tw < 0 || tw % s.stride) continue;
        const int64_t ow = tw / s.stride;
        if (ow >= s.Wo) continue;
        acc += dcol[(b * R + (c * s.k + ki) * s.k + kj) * P + oh * s.Wo + ow];
      }
    }
    dx[w] = beta == 0.0f ? acc : dx[w] + acc;
  }
}

// y = bias[o] + sample_bias[b, o] + residual[b, o, p] (each optional; 0 if none).
__global__ void conv_init_kernel(float* y, const float* bias, const float* sample_bias, const float* residual, int64_t O,
                                 int64_t P, int64_t n) {
  FM_CUDA_LOOP(w, n) {
    const int64_t o = (w / P) % O, bo = w / P;
    float v = bias ? bias[o] : 0.0f;
    if (sample_bias) v += sample_bias[bo];
    if (residual) v += residual[w];
    y[w] = v;
  }
}

// One block per channel o: the sum of dy[b, o, :] over b, p in a fixed order.
__global__ void bias_grad_kernel(const float* dy, float* db, float beta, int64_t B, int64_t O, int64_t P) {
  __shared__ double shared[kThreads];
  const int64_t o = blockIdx.x;
  double acc = 0.0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t p = threadIdx.x; p < P; p += blockDim.x) acc += dy[(b * O + o) * P + p];
  shared[threadIdx.x] = acc;
  fold_block(shared);
  if (threadIdx.x == 0) db[o] = beta == 0.0f ? float(shared[0]) : db[o] + float(shared[0]);
}

// out[j] (+)= sum_b parts[b * n + j], b ascending.
__global__ void sum_parts_kernel(const float* parts, float* out, float beta, int64_t batch, int64_t n) {
  FM_CUDA_LOOP(j, n) {
    float acc = 0.0f;
    for (int64_t b = 0; b < batch; ++b) acc += parts[b * n + j];
    out[j] = beta == 0.0f ? acc : out[j] + acc;
  }
}

int as_int(int64_t v) {
  if (v > 2147483647) throw std::runtime_error("conv2d: dimension too large for cuBLAS");
  return int(v);
}

// Row-major C_b [M, N] = op(A_b) op(B_b) + beta C_b for b < batch (see linalg.cu for the swap).
void gemm_batched(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, int64_t sa,
                  const float* B, int64_t ldb, int64_t sb, float beta, float* C, int64_t sc, int64_t batch) {
  const float alpha = 1.0f;
  check_blas(blas_api().sgemm_strided_batched(blas(), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, as_int(N),
                                       as_int(M), as_int(K), &alpha, B, as_int(ldb), sb, A, as_int(lda), sa, &beta, C,
                                       as_int(N), sc, as_int(batch)),
             "cublasSgemmStridedBatched (conv2d)");
  count_launch();
}

// Scratch floats from the caching allocator (the column matrices, the per-sample dW).
struct Scratch {
  size_t bytes;
  float* p;
  explicit Scratch(int64_t floats) : bytes(size_t(floats) * sizeof(float)) { p = static_cast<float*>(cuda::alloc(bytes)); }
  ~Scratch() { cuda::free(p, bytes); }  // stream order: reused only by later work
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};
int64_t column_floats(const Conv2dShape& s) { return s.B * s.C * s.k * s.k * s.Ho * s.Wo; }

void im2col(const Tensor& x, const Conv2dShape& s, float* col) {
  const int64_t n = s.B * s.C * s.k * s.k * s.Ho * s.Wo;
  FM_LAUNCH(im2col_kernel, grid_for(n), kThreads, 0, stream())(ptr(x), col, s, n);
  launched("im2col");
}

}  // namespace

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, int stride, int pad, const ConvAddends& add) {
  const Conv2dShape s = conv2d_shape(x.shape(), w.shape(), bias, stride, pad);
  const int64_t P = s.Ho * s.Wo, R = s.C * s.k * s.k;
  if (add.sample_bias.defined() && add.sample_bias.shape() != Shape{s.B, s.O})
    throw std::runtime_error("conv2d: sample_bias must be [B, O], got " + shape_str(add.sample_bias.shape()));
  Tensor y = Tensor::empty({s.B, s.O, s.Ho, s.Wo}, Device::CUDA);
  if (add.residual.defined()) check_same_shape(add.residual, y, "conv2d residual");
  if (y.numel() == 0) return y;
  FM_LAUNCH(conv_init_kernel, grid_for(y.numel()), kThreads, 0, stream())(
      ptr(y), bias.defined() ? ptr(bias) : nullptr, add.sample_bias.defined() ? ptr(add.sample_bias) : nullptr,
      add.residual.defined() ? ptr(add.residual) : nullptr, s.O, P, y.numel());
  launched("conv2d init");
  if (R == 0) return y;
  Scratch col(column_floats(s));
  im2col(x, s, col.p);
  gemm_batched(false, false, s.O, P, R, ptr(w), R, 0, col.p, P, R * P, 1.0f, ptr(y), s.O * P, s.B);
  return y;
}

void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, int stride, int pad, Tensor* dx, float beta_x,
                     Tensor* dw, float beta_w, Tensor* db, float beta_b) {
  const Conv2dShape s = conv2d_shape(x.shape(), w.shape(), db ? *db : Tensor(), stride, pad);
  const int64_t P = s.Ho * s.Wo, R = s.C * s.k * s.k;
  if (dy.shape() != Shape{s.B, s.O, s.Ho, s.Wo})
    throw std::runtime_error("conv2d backward: dy " + shape_str(dy.shape()) + " does not match the output");
  check_grad_shape(dx, x.shape(), "conv2d backward (dx)");
  check_grad_shape(dw, w.shape(), "conv2d backward (dw)");
  check_grad_shape(db, {s.O}, "conv2d backward (db)");
  if (db && s.O > 0) {
    FM_LAUNCH(bias_grad_kernel, unsigned(s.O), row_threads(P), 0, stream())(ptr(dy), ptr(*db), beta_b, s.B, s.O, P);
    launched("conv2d bias grad");
  }
  if ((!dx && !dw) || s.B * R * P == 0) {  // nothing to sum: dW of no samples is zero
    if (dw && beta_w == 0.0f) cuda::fill(ptr(*dw), 0.0f, size_t(dw->numel()));
    return;
  }
  Scratch col(column_floats(s));
  if (dw) {  // dW_b [O, R] = dy_b [O, P] col_b^T for all b at once, then summed in sample order
    im2col(x, s, col.p);
    Scratch parts(s.B * s.O * R);
    gemm_batched(false, true, s.O, R, P, ptr(dy), P, s.O * P, col.p, P, R * P, 0.0f, parts.p, s.O * R, s.B);
    FM_LAUNCH(sum_parts_kernel, grid_for(s.O * R), kThreads, 0, stream())(parts.p, ptr(*dw), beta_w, s.B, s.O * R);
    launched("conv2d weight grad");
  }
  if (dx) {  // dcol_b [R, P] = W^T [R, O] dy_b [O, P], into the same buffer, then gathered
    gemm_batched(true, false, R, P, s.O, ptr(w), R, 0, ptr(dy), P, s.O * P, 0.0f, col.p, R * P, s.B);
    FM_LAUNCH(col2im_kernel, grid_for(dx->numel()), kThreads, 0, stream())(col.p, ptr(*dx), beta_x, s, dx->numel());
    launched("col2im");
  }
}

}  // namespace fm::cuda
