// cuda/ode.cu: the ODE solvers' and the likelihood's kernels. A Runge–Kutta combination is one
// elementwise kernel over up to 8 stages; a mixed error norm sums each part on the device and
// folds the parts there too, so dopri5's accept/reject costs one double to the host per step.
#include <cmath>
#include <stdexcept>

#include "cuda/device.h"
#include "cuda/kernels.h"
#include "cuda/reduce.cuh"
#include "tensor/fused_math.h"

namespace fm::cuda {

namespace {

constexpr int kMaxTerms = 8;

struct Terms {
  int m;
  double w[kMaxTerms];
  const float* k[kMaxTerms];
};

Terms terms_of(double h, std::span<const double> w, std::span<const Tensor* const> k, bool skip_zeros, const char* what) {
  if (w.size() != k.size() || k.size() > size_t(kMaxTerms))
    throw std::runtime_error(std::string(what) + ": weights and stages differ or are too many");
  Terms t{};
  for (size_t j = 0; j < w.size(); ++j)
    if (!skip_zeros || w[j] != 0.0) t.w[t.m] = h * w[j], t.k[t.m++] = ptr(*k[j]);
  return t;
}

// out = y0 + sum_j w_j k_j, accumulated in double and rounded once (as the CPU kernel).
__global__ void combine_kernel(float* out, const float* y0, Terms t, int64_t n) {
  FM_CUDA_LOOP(i, n) out[i] = fused::rk_combine(y0[i], t.w, t.k, t.m, i);
}

// dopri5's error term of element i, squared by the reduction's caller: err / tol.
struct ErrorRatio {
  const float *y0, *y1;
  Terms e;
  double atol, rtol;
  int64_t offset;
  __device__ double operator()(int64_t j) const {
    const int64_t i = offset + j;
    const double v = fused::rk_error(y0[i], y1[i], e.w, e.k, e.m, i, atol, rtol);
    return v * v;
  }
};

struct Scaled {
  const float *a, *b, *ref;
  double atol, rtol;
  int64_t offset;
  __device__ double operator()(int64_t j) const {
    const int64_t i = offset + j;
    const double v = fused::scaled(a[i], b, ref[i], i, atol, rtol);
    return v * v;
  }
};

struct PartSizes {
  int count;
  int64_t size[kMaxParts];
};

// The max over parts of sqrt(sum / size), NaN as soon as a part's sum is NaN (as the CPU kernel).
__global__ void fold_parts_kernel(const double* sums, PartSizes parts, double* out) {
  double norm = 0.0;
  for (int k = 0; k < parts.count; ++k) {
    if (isnan(sums[k])) {
      norm = sums[k];
      break;
    }
    if (parts.size[k] > 0) norm = fmax(norm, sqrt(sums[k] / double(parts.size[k])));
  }
  *out = norm;
}

template <class Term>
double mixed_norm(Term term, std::span<const int64_t> parts) {
  if (parts.size() > size_t(kMaxParts)) throw std::runtime_error("mixed norm: more than 32 parts");
  double* scratch = reduce_scratch();
  PartSizes sizes{int(parts.size()), {}};
  int64_t offset = 0;
  for (size_t k = 0; k < parts.size(); ++k) {
    sizes.size[k] = parts[k];
    term.offset = offset;
    if (parts[k] > 0) reduce_sum_device(term, parts[k], scratch + kPartSlots + k);
    else check(cudaMemsetAsync(scratch + kPartSlots + k, 0, sizeof(double), stream()), "cudaMemsetAsync");
    offset += parts[k];
  }
  double* out = scratch + kResultSlot;
  FM_LAUNCH(fold_parts_kernel, 1, 1, 0, stream())(scratch + kPartSlots, sizes, out);
  launched("mixed norm");
  double host = 0.0;
  check(cudaMemcpyAsync(&host, out, sizeof host, cudaMemcpyDeviceToHost, stream()), "mixed norm: cudaMemcpyAsync");
  check(cudaStreamSynchronize(stream()), "mixed norm: cudaStreamSynchronize");
  return host;
}

struct NonFinite {
  const float* p;
  __device__ double operator()(int64_t i) const { return isfinite(p[i]) ? 0.0 : 1.0; }
};

// acc[b] += scale * sum_j a[b, j] c[b, j], one thread per row, j ascending in float (CPU order).
__global__ void row_dot_kernel(float* acc, const float* a, const float* c, float scale, int64_t B, int64_t D) {
  FM_CUDA_LOOP(b, B) {
    float s = 0.0f;
    for (int64_t j = 0; j < D; ++j) s += a[b * D + j] * c[b * D + j];
    acc[b] += scale * s;
  }
}

__global__ void add_column_kernel(float* acc, const float* x, int64_t i, int64_t B, int64_t D) {
  FM_CUDA_LOOP(b, B) acc[b] += x[b * D + i];
}

__global__ void row_sumsq_kernel(const float* x, double* out, int64_t B, int64_t D) {
  FM_CUDA_LOOP(b, B) {
    double sq = 0.0;
    for (int64_t j = 0; j < D; ++j) sq += double(x[b * D + j]) * x[b * D + j];
    out[b] = sq;
  }
}

}  // namespace

void rk_combine_(Tensor& out, const Tensor& y0, double h, std::span<const double> w, std::span<const Tensor* const> k) {
  const Terms t = terms_of(h, w, k, /*skip_zeros=*/true, "rk_combine_");
  const int64_t n = out.numel();
  if (n == 0) return;
  FM_LAUNCH(combine_kernel, grid_for(n), kThreads, 0, stream())(ptr(out), ptr(y0), t, n);
  launched("rk_combine_");
}

double rk_error_ratio(const Tensor& y0, const Tensor& y1, std::span<const Tensor* const> k, double h,
                      std::span<const double> e, double atol, double rtol, std::span<const int64_t> parts) {
  return mixed_norm(ErrorRatio{ptr(y0), ptr(y1), terms_of(h, e, k, /*skip_zeros=*/false, "rk_error_ratio"), atol, rtol, 0},
                    parts);
}

double scaled_norm(const Tensor& a, const Tensor* b, const Tensor& ref, double atol, double rtol,
                   std::span<const int64_t> parts) {
  return mixed_norm(Scaled{ptr(a), b ? ptr(*b) : nullptr, ptr(ref), atol, rtol, 0}, parts);
}

int first_nonfinite(std::span<const Tensor* const> ts) {
  if (ts.size() > size_t(kMaxParts)) throw std::runtime_error("first_nonfinite: more than 32 tensors");
  double* slots = reduce_scratch() + kPartSlots;
  for (size_t j = 0; j < ts.size(); ++j) {
    if (ts[j]->numel() > 0) reduce_sum_device(NonFinite{ptr(*ts[j])}, ts[j]->numel(), slots + j);
    else check(cudaMemsetAsync(slots + j, 0, sizeof(double), stream()), "cudaMemsetAsync");
  }
  double host[kMaxParts];
  check(cudaMemcpyAsync(host, slots, ts.size() * sizeof(double), cudaMemcpyDeviceToHost, stream()), "cudaMemcpyAsync");
  check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize");
  for (size_t j = 0; j < ts.size(); ++j)
    if (host[j] != 0.0) return int(j);
  return -1;
}

void row_dot_add_(Tensor& acc, const Tensor& a, const Tensor& c, float scale) {
  const int64_t B = acc.numel(), D = B ? a.numel() / B : 0;
  if (B == 0) return;
  FM_LAUNCH(row_dot_kernel, grid_for(B), kThreads, 0, stream())(ptr(acc), ptr(a), ptr(c), scale, B, D);
  launched("row_dot_add_");
}

void add_column_(Tensor& acc, const Tensor& x, int64_t i) {
  const int64_t B = acc.numel(), D = B ? x.numel() / B : 0;
  if (B == 0) return;
  FM_LAUNCH(add_column_kernel, grid_for(B), kThreads, 0, stream())(ptr(acc), ptr(x), i, B, D);
  launched("add_column_");
}

std::vector<double> row_sum_squares(const Tensor& x) {
  const int64_t B = x.dim(0), D = B ? x.numel() / B : 0;
  std::vector<double> out(static_cast<size_t>(B));
  if (B == 0) return out;
  size_t bytes = size_t(B) * sizeof(double);
  void* dev = cuda::alloc(bytes);
  FM_LAUNCH(row_sumsq_kernel, grid_for(B), kThreads, 0, stream())(ptr(x), static_cast<double*>(dev), B, D);
  launched("row_sum_squares");
  cuda::copy(out.data(), dev, size_t(B) * sizeof(double), Copy::DeviceToHost);
  cuda::free(dev, bytes);
  return out;
}

}  // namespace fm::cuda
