// cuda/device.cu: device discovery, the stream and cuBLAS handle, and copies. Every CUDA call's
// status is checked; a failure becomes one std::runtime_error line naming the call.
#include <atomic>
#include <stdexcept>
#include <string>

#include "cuda/common.cuh"
#include "cuda/device.h"

namespace fm::cuda {

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
}

void check_blas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string(what) + ": cuBLAS status " + std::to_string(int(status)));
}

namespace {

// Any error from cudaGetDeviceCount (no device, no driver, driver too old) means "no device".
int device_count(cudaError_t* why = nullptr) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (why) *why = status;
  return status == cudaSuccess ? count : 0;
}

__global__ void fill_kernel(float* dst, float value, int64_t count) {
  FM_CUDA_LOOP(i, count) dst[i] = value;
}

}  // namespace

bool available() { return device_count() > 0; }

std::string unavailable_reason() {
  cudaError_t why = cudaSuccess;
  if (device_count(&why) > 0) return "";
  return why == cudaSuccess ? "no GPU" : cudaGetErrorString(why);
}

std::string describe() {
  if (!available()) return "CUDA built, but no device found (" + unavailable_reason() + ")";
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  return std::string("CUDA device 0: ") + prop.name + " (sm_" + std::to_string(prop.major * 10 + prop.minor) + ", " +
         std::to_string(prop.totalGlobalMem >> 20) + " MiB)";
}

cudaStream_t stream() {
  static cudaStream_t s = [] {
    cudaStream_t created = nullptr;
    check(cudaStreamCreateWithFlags(&created, cudaStreamNonBlocking), "cudaStreamCreate");
    return created;
  }();
  return s;
}

cublasHandle_t blas() {
  static cublasHandle_t h = [] {
    const BlasApi& api = blas_api();
    cublasHandle_t created = nullptr;
    check_blas(api.create(&created), "cublasCreate");
    check_blas(api.set_stream(created, stream()), "cublasSetStream");
    check_blas(api.set_math_mode(created, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");  // no TF32
    check_blas(api.set_atomics_mode(created, CUBLAS_ATOMICS_NOT_ALLOWED), "cublasSetAtomicsMode");
    return created;
  }();
  return h;
}

void copy(void* dst, const void* src, size_t bytes, Copy kind) {
  if (bytes == 0) return;
  const cudaMemcpyKind k = kind == Copy::HostToDevice   ? cudaMemcpyHostToDevice
                           : kind == Copy::DeviceToHost ? cudaMemcpyDeviceToHost
                                                        : cudaMemcpyDeviceToDevice;
  check(cudaMemcpyAsync(dst, src, bytes, k, stream()), "cudaMemcpyAsync");
  // The host buffer of a download is read right after; an upload from pageable memory is staged
  // by the driver before the call returns, so only downloads wait.
  if (kind == Copy::DeviceToHost) check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize");
}

namespace {
std::atomic<int64_t> launches{0};
}  // namespace

void count_launch() { launches.fetch_add(1, std::memory_order_relaxed); }
int64_t launch_count() { return launches.load(std::memory_order_relaxed); }

void synchronize() { check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize"); }

void fill(float* dst, float value, size_t count) {
  if (count == 0) return;
  fill_kernel<<<grid_for(int64_t(count)), kThreads, 0, stream()>>>(dst, value, int64_t(count));
  launched("fill");
}

}  // namespace fm::cuda
