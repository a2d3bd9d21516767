// cuda/blas.cu: cuBLAS loaded on first use, and the loader it shares with NCCL (cuda/nccl.cu). The
// entry points the backend calls are looked up by name in libcublas.so.13 (on the library path, or
// in $CUDA_HOME/lib64); a machine without the library gets one line naming it the first time a CUDA
// product runs, and a CPU-only run never loads it at all.
#include <dlfcn.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "cuda/common.cuh"
#if FM_CUDA_EMULATION
#include "cuda/emulation/runtime.h"
#endif

namespace fm::cuda {

#if FM_CUDA_EMULATION
// The emulated GPU serves the libraries' entry points itself (cuda/emulation/cublas.cpp, nccl.cpp),
// looked up by the same names.
void* open_library(const char* what, const std::vector<std::string>&) { return fm_emu::open_library(what); }

void* library_symbol(void* lib, const char* what, const char* name) {
  void* fn = fm_emu::library_symbol(lib, name);
  if (!fn) throw std::runtime_error(std::string(what) + ": no symbol " + name + " in the emulation");
  return fn;
}
#else
void* open_library(const char* what, const std::vector<std::string>& names) {
  const char* home = std::getenv("CUDA_HOME");
  const std::string root = home ? home : "/usr/local/cuda";
  std::string first_error;  // dlopen's reason for the first name, the one the message gives
  for (const std::string& name : names)
    for (const std::string& path : {name, root + "/lib64/" + name, root + "/lib/" + name}) {
      if (void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) return lib;
      if (first_error.empty()) first_error = dlerror();
    }
  throw std::runtime_error(std::string(what) + " not found (" + first_error + ")");
}

void* library_symbol(void* lib, const char* what, const char* name) {
  void* fn = dlsym(lib, name);
  if (!fn) throw std::runtime_error(std::string(what) + ": no symbol " + name);
  return fn;
}
#endif

namespace {

BlasApi load() {
  void* lib = open_library("cuBLAS", {"libcublas.so.13", "libcublas.so"});
  BlasApi api{};
  resolve(lib, "cuBLAS", "cublasCreate_v2", api.create);
  resolve(lib, "cuBLAS", "cublasSetStream_v2", api.set_stream);
  resolve(lib, "cuBLAS", "cublasSetMathMode", api.set_math_mode);
  resolve(lib, "cuBLAS", "cublasSetAtomicsMode", api.set_atomics_mode);
  resolve(lib, "cuBLAS", "cublasSgemm_v2", api.sgemm);
  resolve(lib, "cuBLAS", "cublasSgemmStridedBatched", api.sgemm_strided_batched);
  return api;
}

}  // namespace

const BlasApi& blas_api() {
  static const BlasApi api = load();
  return api;
}

}  // namespace fm::cuda
