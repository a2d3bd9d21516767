// cuda/blas.cu: cuBLAS loaded on first use. The entry points the backend calls are looked up by
// name in libcublas.so.13 (on the library path, or in $CUDA_HOME/lib64); a machine without the library gets one line naming
// it the first time a CUDA product runs, and a CPU-only run never loads it at all.
#include <dlfcn.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "cuda/common.cuh"

namespace fm::cuda {

namespace {

template <class Fn>
void resolve(void* lib, const char* name, Fn& fn) {
  fn = reinterpret_cast<Fn>(dlsym(lib, name));
  if (!fn) throw std::runtime_error(std::string("cuBLAS: no symbol ") + name + " in libcublas");
}

BlasApi load() {
  void* lib = nullptr;
  const char* home = std::getenv("CUDA_HOME");
  const std::string beside_toolkit = std::string(home ? home : "/usr/local/cuda") + "/lib64/libcublas.so.13";
  for (const std::string& name : {std::string("libcublas.so.13"), std::string("libcublas.so"), beside_toolkit})
    if ((lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL))) break;
  if (!lib) throw std::runtime_error(std::string("cuBLAS not found (libcublas.so.13: ") + dlerror() + ")");
  BlasApi api{};
  resolve(lib, "cublasCreate_v2", api.create);
  resolve(lib, "cublasSetStream_v2", api.set_stream);
  resolve(lib, "cublasSetMathMode", api.set_math_mode);
  resolve(lib, "cublasSetAtomicsMode", api.set_atomics_mode);
  resolve(lib, "cublasSgemm_v2", api.sgemm);
  resolve(lib, "cublasSgemmStridedBatched", api.sgemm_strided_batched);
  return api;  // the library stays loaded for the life of the process
}

}  // namespace

const BlasApi& blas_api() {
  static const BlasApi api = load();
  return api;
}

}  // namespace fm::cuda
