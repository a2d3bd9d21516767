// cuda/device.h: the narrow interface the tensor layer uses to ask about the CUDA backend.
// When the project is built without nvcc, cuda/stub.cpp implements it and reports "no CUDA".
#pragma once
#include <string>

namespace fm::cuda {

// True when this binary was built with the CUDA backend and a device is present.
bool available();

// One line naming the device (or why there is none), for `fm bench` and the tests.
std::string describe();

}  // namespace fm::cuda
