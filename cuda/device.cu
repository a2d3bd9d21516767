// cuda/device.cu: device discovery for the CUDA backend. The kernels themselves come in a later issue.
#include <cuda_runtime.h>

#include "cuda/device.h"

namespace fm::cuda {

bool available() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

std::string describe() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) return "CUDA built, but no device found";
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  return std::string("CUDA device 0: ") + prop.name;
}

}  // namespace fm::cuda
