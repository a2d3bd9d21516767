// cuda/device.cu: device discovery and device memory for the CUDA backend. Every CUDA call's
// status is checked; a failure becomes one std::runtime_error line naming the call.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "cuda/device.h"

namespace fm::cuda {

namespace {

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
}

void require_device() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0)
    throw std::runtime_error("no CUDA device found (this binary has CUDA support, but the machine has no usable GPU)");
}

// dst[i] = value: the one kernel this file needs (Tensor::fill on a CUDA tensor).
__global__ void fill_kernel(float* dst, float value, size_t count) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count; i += size_t(gridDim.x) * blockDim.x)
    dst[i] = value;
}

}  // namespace

bool available() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

std::string describe() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) return "CUDA built, but no device found";
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  return std::string("CUDA device 0: ") + prop.name;
}

void* alloc(size_t bytes) {
  require_device();
  void* p = nullptr;
  check(cudaMalloc(&p, bytes), ("cudaMalloc of " + std::to_string(bytes) + " bytes").c_str());
  return p;
}

void free(void* p) {
  if (p) cudaFree(p);  // never throws: called from destructors
}

void copy(void* dst, const void* src, size_t bytes, Copy kind) {
  const cudaMemcpyKind k = kind == Copy::HostToDevice   ? cudaMemcpyHostToDevice
                           : kind == Copy::DeviceToHost ? cudaMemcpyDeviceToHost
                                                        : cudaMemcpyDeviceToDevice;
  check(cudaMemcpy(dst, src, bytes, k), "cudaMemcpy");
}

void fill(float* dst, float value, size_t count) {
  if (count == 0) return;
  const unsigned blocks = unsigned(std::min<size_t>((count + 255) / 256, 65535));
  fill_kernel<<<blocks, 256>>>(dst, value, count);
  check(cudaGetLastError(), "fill kernel launch");
}

}  // namespace fm::cuda
