// tensor/dispatch.h: how an op of the op list (tensor/ops.h) reaches a backend's kernel.
//
//   Tensor unary(UnaryOp op, const Tensor& x) { FM_DISPATCH("unary", unary(op, x), x); }
//
// checks that every defined tensor argument lives on one device and returns the kernel of that
// device's backend: fm::cpu::unary(op, x) for host memory (tensor/cpu/kernels.h), fm::cuda::unary
// for CUDA memory in a CUDA build (cuda/kernels.h). A build without CUDA never has a CUDA tensor
// (creating one throws "built without CUDA support"); should one reach an op anyway, it gets
// "unary: no cuda kernel in this build". Only the op list includes this file.
#pragma once
#include <functional>
#include <initializer_list>

#include "fm_config.h"
#include "tensor/cpu/kernels.h"
#include "tensor/tensor.h"
#if FM_HAVE_CUDA
#include "cuda/kernels.h"
#endif

namespace fm {

// The one device of the defined tensors among `args` (CPU if none is defined); throws
// "<op>: arguments on different devices (cpu and cuda)" otherwise.
Device common_device(const char* op, std::initializer_list<std::reference_wrapper<const Tensor>> args);

// Throws "<op>: no <device> kernel in this build".
[[noreturn]] void no_kernel(const char* op, Device device);

#if FM_HAVE_CUDA
#define FM_DISPATCH_CUDA(call) \
  if (fm_device_ == ::fm::Device::CUDA) return ::fm::cuda::call;
#else
#define FM_DISPATCH_CUDA(call)
#endif

#define FM_DISPATCH(name, call, ...)                                          \
  do {                                                                        \
    const ::fm::Device fm_device_ = ::fm::common_device(name, {__VA_ARGS__}); \
    if (fm_device_ == ::fm::Device::CPU) return ::fm::cpu::call;              \
    FM_DISPATCH_CUDA(call)                                                    \
    ::fm::no_kernel(name, fm_device_);                                        \
  } while (0)

}  // namespace fm
