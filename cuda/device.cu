// cuda/device.cu: device discovery, the stream and cuBLAS handle, and copies. Every CUDA call's
// status is checked; a failure becomes one std::runtime_error line naming the call.
#include <atomic>
#include <cstring>
#include <stdexcept>
#include <string>

#include "cuda/common.cuh"
#include "cuda/device.h"

namespace fm::cuda {

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
}

void check_blas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string(what) + ": cuBLAS status " + std::to_string(int(status)));
}

namespace {

// Any error from cudaGetDeviceCount (no device, no driver, driver too old) means "no device".
int device_count(cudaError_t* why = nullptr) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (why) *why = status;
  return status == cudaSuccess ? count : 0;
}

__global__ void fill_kernel(float* dst, float value, int64_t count) {
  FM_CUDA_LOOP(i, count) dst[i] = value;
}

}  // namespace

bool available() { return device_count() > 0; }

std::string unavailable_reason() {
  cudaError_t why = cudaSuccess;
  if (device_count(&why) > 0) return "";
  return why == cudaSuccess ? "no GPU" : cudaGetErrorString(why);
}

std::string describe() {
  if (!available()) return "CUDA built, but no device found (" + unavailable_reason() + ")";
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  const std::string what = prop.name + std::string(" (sm_") + std::to_string(prop.major * 10 + prop.minor) + ", " +
                           std::to_string(prop.multiProcessorCount) + " SMs, " + std::to_string(prop.totalGlobalMem >> 20) + " MiB)";
#if FM_CUDA_EMULATION
  return "emulated on the CPU (for testing, not speed): device 0 as an " + what;
#else
  return "CUDA device 0: " + what;
#endif
}

cudaStream_t stream() {
  static cudaStream_t s = [] {
    cudaStream_t created = nullptr;
    check(cudaStreamCreateWithFlags(&created, cudaStreamNonBlocking), "cudaStreamCreate");
    return created;
  }();
  return s;
}

cublasHandle_t blas() {
  static cublasHandle_t h = [] {
    const BlasApi& api = blas_api();
    cublasHandle_t created = nullptr;
    check_blas(api.create(&created), "cublasCreate");
    check_blas(api.set_stream(created, stream()), "cublasSetStream");
    check_blas(api.set_math_mode(created, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");  // no TF32
    check_blas(api.set_atomics_mode(created, CUBLAS_ATOMICS_NOT_ALLOWED), "cublasSetAtomicsMode");
    return created;
  }();
  return h;
}

namespace {

// Uploads go through pinned staging buffers. CUDA makes an asynchronous copy from pageable memory
// wait for the stream first, so the data batch and the times that a training step uploads would
// each wait for the previous step to drain; from pinned memory the copy is queued and the host goes
// on. The host copies into the next of kSlots pinned buffers (in turn) and queues the transfer from
// it; a buffer is reused once the event recorded after its last transfer has passed, which holds the
// host at most kSlots uploads ahead of the device. Buffers grow to the largest upload they carry
// (cudaMallocHost synchronises, so only in the first steps); uploads above kMaxStaged (weights,
// whole data sets) go directly.
struct Staging {
  void* host = nullptr;
  size_t bytes = 0;
  cudaEvent_t done = nullptr;
};
constexpr int kSlots = 4;
constexpr size_t kMaxStaged = size_t(64) << 20;

void upload(void* dst, const void* src, size_t bytes) {
  static Staging slots[kSlots];
  static int next = 0;
  if (bytes > kMaxStaged) {
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream()), "cudaMemcpyAsync");
    return;
  }
  Staging& s = slots[next];
  next = (next + 1) % kSlots;
  if (s.done)
    check(cudaEventSynchronize(s.done), "cudaEventSynchronize (upload buffer)");  // its last transfer is done
  else
    check(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming), "cudaEventCreate");
  if (s.bytes < bytes) {
    if (s.host) check(cudaFreeHost(s.host), "cudaFreeHost");
    s.host = nullptr;
    check(cudaMallocHost(&s.host, bytes), "cudaMallocHost (upload buffer)");
    s.bytes = bytes;
  }
  std::memcpy(s.host, src, bytes);
  check(cudaMemcpyAsync(dst, s.host, bytes, cudaMemcpyHostToDevice, stream()), "cudaMemcpyAsync");
  check(cudaEventRecord(s.done, stream()), "cudaEventRecord");
}

}  // namespace

void copy(void* dst, const void* src, size_t bytes, Copy kind) {
  if (bytes == 0) return;
  if (kind == Copy::HostToDevice) return upload(dst, src, bytes);
  const cudaMemcpyKind k = kind == Copy::DeviceToHost ? cudaMemcpyDeviceToHost : cudaMemcpyDeviceToDevice;
  check(cudaMemcpyAsync(dst, src, bytes, k, stream()), "cudaMemcpyAsync");
  // The host buffer of a download is read right after the call: it waits for the stream.
  if (kind == Copy::DeviceToHost) check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize");
}

namespace {
std::atomic<int64_t> launches{0};
}  // namespace

void count_launch() { launches.fetch_add(1, std::memory_order_relaxed); }
int64_t launch_count() { return launches.load(std::memory_order_relaxed); }

void synchronize() { check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize"); }

void fill(float* dst, float value, size_t count) {
  if (count == 0) return;
  FM_LAUNCH(fill_kernel, grid_for(int64_t(count)), kThreads, 0, stream())(dst, value, int64_t(count));
  launched("fill");
}

}  // namespace fm::cuda
