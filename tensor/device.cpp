// tensor/device.cpp
#include "tensor/device.h"

#include <stdexcept>

#include "cuda/device.h"
#include "fm_config.h"

namespace fm {

const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::CPU;
  if (name == "cuda") return Device::CUDA;
  throw std::runtime_error("unknown device '" + name + "' (choose cpu or cuda)");
}

void require_usable(Device device) {
  if (device == Device::CPU) return;
  if (!FM_HAVE_CUDA)
    throw std::runtime_error("--device cuda: built without CUDA support (reconfigure with -Dcuda=enabled where the CUDA Toolkit is installed)");
  if (!cuda::available()) throw std::runtime_error("--device cuda: no CUDA device found (" + cuda::unavailable_reason() + ")");
}

void synchronize(Device device) {
  if (device == Device::CUDA) cuda::synchronize();
}

std::string describe_device(Device device) { return device == Device::CPU ? "cpu" : cuda::describe(); }

}  // namespace fm
