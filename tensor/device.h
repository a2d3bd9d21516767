// tensor/device.h: where a tensor's memory lives, and which backend runs the ops on it.
//
// Every Storage belongs to one device. The op list (tensor/ops.h) checks that an op's arguments
// share a device and runs that device's kernel: the CPU backend in tensor/cpu/, the CUDA backend
// in cuda/. A build without CUDA refuses to create CUDA memory ("built without CUDA support").
#pragma once
#include <string>

namespace fm {

enum class Device { CPU, CUDA };

const char* device_name(Device d);            // "cpu" | "cuda"
Device parse_device(const std::string& name);  // the inverse; throws std::runtime_error otherwise

// Throws one line unless tensors can live on `device` here: "built without CUDA support" or "no
// CUDA device found (...)". For flags like --device, so a run fails at once, not at its first op.
void require_usable(Device device);
// Waits for the work queued on `device` (a no-op for the CPU, whose ops return when done).
void synchronize(Device device);
// One line naming the device ("cpu", or the GPU's name and memory).
std::string describe_device(Device device);

}  // namespace fm
