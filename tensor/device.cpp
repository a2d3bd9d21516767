// tensor/device.cpp
#include "tensor/device.h"

#include <stdexcept>

namespace fm {

const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::CPU;
  if (name == "cuda") return Device::CUDA;
  throw std::runtime_error("unknown device '" + name + "' (choose cpu or cuda)");
}

}  // namespace fm
