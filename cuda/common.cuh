// cuda/common.cuh: what every kernel file of the CUDA backend shares: status checks, the one
// stream and cuBLAS handle, the launch and its shape. Included only by cuda/*.cu, which nvcc
// compiles for a GPU, or the host compiler for the emulated GPU (cuda/emulation/, whose
// cuda_runtime.h and cublas_v2.h then stand in for the toolkit's).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "fm_config.h"
#include "tensor/tensor.h"

namespace fm::cuda {

// Throw std::runtime_error "<what>: <CUDA's message>" on failure.
void check(cudaError_t status, const char* what);
void check_blas(cublasStatus_t status, const char* what);

// Every kernel, copy and cuBLAS call runs on this one stream, in order: a block the caching
// allocator hands out again is only touched after the kernels that used it.
cudaStream_t stream();
// cuBLAS on stream() in CUBLAS_DEFAULT_MATH (full fp32: no TF32), atomics not allowed
// (deterministic), so results match the CPU's sgemm to fp32 accuracy and repeat bit for bit.
cublasHandle_t blas();

// cuBLAS's entry points, loaded with dlopen on first use (cuda/blas.cu): linking libcublas would
// make every run, CPU-only ones included, register its kernels at start-up, about 200 MiB of
// resident memory for nothing.
struct BlasApi {
  decltype(&cublasCreate_v2) create;
  decltype(&cublasSetStream_v2) set_stream;
  decltype(&cublasSetMathMode) set_math_mode;
  decltype(&cublasSetAtomicsMode) set_atomics_mode;
  decltype(&cublasSgemm_v2) sgemm;
  decltype(&cublasSgemmStridedBatched) sgemm_strided_batched;
};
const BlasApi& blas_api();  // throws "cuBLAS not found (...)" when the library cannot be loaded

// The libraries loaded on first use (cuBLAS, NCCL): dlopen of the first of `names` that loads, each
// tried as given (the library path) and in $CUDA_HOME (default /usr/local/cuda)/lib64 and /lib;
// throws "<what> not found (<names[0]>: <dlerror>)". The library stays loaded for the process.
void* open_library(const char* what, const std::vector<std::string>& names);
// fn = the symbol `name` of `lib`; throws "<what>: no symbol <name>".
void* library_symbol(void* lib, const char* what, const char* name);
template <class Fn>
void resolve(void* lib, const char* what, const char* name, Fn& fn) {
  fn = reinterpret_cast<Fn>(library_symbol(lib, what, name));
}

// Launch shape of the elementwise kernels: 256 threads, a grid-stride loop over at most 4096
// blocks. Reductions use a fixed grid instead (reduce.cu), so their order never changes.
constexpr int kThreads = 256;
inline unsigned grid_for(int64_t n) { return unsigned(std::clamp<int64_t>((n + kThreads - 1) / kThreads, 1, 4096)); }

// The kernel just launched, checked (a launch error would otherwise surface at a later call),
// and counted (cuda/device.h's launch_count: how launch-bound a training step is).
void count_launch();
inline void launched(const char* name) {
  check(cudaGetLastError(), name);
  count_launch();
}

// Every launch is written FM_LAUNCH(kernel, grid, block, shared_bytes, stream)(args...): with
// nvcc, kernel<<<grid, block, shared_bytes, stream>>>(args...); in the emulation, the same kernel
// queued to run on the CPU (cuda/emulation/device_code.h). One source for both, so the code the
// emulated suites test is the code that runs on a GPU.
#ifdef __CUDACC__
#define FM_LAUNCH(kernel, grid, block, shared_bytes, stream) kernel<<<grid, block, shared_bytes, stream>>>
#else
#define FM_LAUNCH(kernel, grid, block, shared_bytes, stream) FM_EMU_LAUNCH(kernel, grid, block, shared_bytes, stream)
#endif

// Device pointers of tensors (shorthand for the kernels' argument lists).
inline float* ptr(Tensor& t) { return t.device_data(); }
inline const float* ptr(const Tensor& t) { return t.device_data(); }

// A grid-stride loop over [0, n).
#define FM_CUDA_LOOP(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

}  // namespace fm::cuda
