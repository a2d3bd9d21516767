// cuda/device.h: the narrow interface the tensor layer uses to reach the CUDA backend: whether a
// device is there, and its memory (allocation and copies). When the project is built without
// nvcc, cuda/stub.cpp implements it: `available()` is false and the memory functions throw
// "built without CUDA support".
#pragma once
#include <cstddef>
#include <string>

namespace fm::cuda {

// True when this binary was built with the CUDA backend and a device is present.
bool available();

// One line naming the device (or why there is none), for `fm bench` and the tests.
std::string describe();

// Device memory. alloc throws std::runtime_error with one line ("no CUDA device found", "built
// without CUDA support", out of memory) instead of returning null. The copies are synchronous.
void* alloc(size_t bytes);
void free(void* p);
enum class Copy { HostToDevice, DeviceToHost, DeviceToDevice };
void copy(void* dst, const void* src, size_t bytes, Copy kind);
void fill(float* dst, float value, size_t count);  // dst[i] = value on the device

}  // namespace fm::cuda
