// cuda/stub.cpp: compiled when the CUDA toolkit is absent (the MLX "no_gpu" pattern).
#include "cuda/device.h"

namespace fm::cuda {

bool available() { return false; }
std::string describe() { return "CUDA backend not built (nvcc not found at configure time)"; }

}  // namespace fm::cuda
