// cuda/emulation/include/cuda_runtime.h: the part of the CUDA runtime API that the backend (cuda/)
// uses, served on the CPU by the emulation (cuda/emulation/runtime.cpp). A build with
// -Demulate_cuda=true puts this folder on the include path of cuda/*.cu, which are then compiled
// as C++ by the host compiler: the same sources that nvcc compiles for a GPU.
//
// The emulated device is an H100 (compute capability 9.0, 132 SMs). Its memory is separate host
// allocations that only the copy calls reach; work on a stream runs lazily, in order, when the host
// synchronises (so a host read without a synchronisation sees stale data, as it may on a GPU).
#pragma once
#include <math.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#define FM_CUDA_EMULATED_RUNTIME 1

// ---- what nvcc's qualifiers mean on the CPU -------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ inline
#define __launch_bounds__(...)
// Shared memory is per block, and the blocks of a launch run one at a time, so a static is exactly
// one block's. They all live in one section, which the emulation fills with 0xff bytes (NaN as
// floats) at each launch: a read of shared memory that no thread wrote gives the same wrong value
// on every run (block.cpp).
#define __shared__ static __attribute__((section("fm_emu_shared")))

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};

// ---- errors (CUDA's numbering) ----------------------------------------------------------------
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidPitchValue = 12,
  cudaErrorInvalidMemcpyDirection = 21,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
  cudaErrorLaunchFailure = 719,
};
typedef cudaError_t cudaError;
const char* cudaGetErrorString(cudaError_t error);
const char* cudaGetErrorName(cudaError_t error);
cudaError_t cudaGetLastError();   // the last error of a call, cleared (a fault stays: sticky)
cudaError_t cudaPeekAtLastError();

// ---- device -------------------------------------------------------------------------------------
struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;       // 48 KiB without an opt-in
  size_t sharedMemPerBlockOptin;  // 227 KiB
  int warpSize;
  size_t memPitch;                // the largest pitch of a 2-D copy
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  int major, minor;
  int multiProcessorCount;
};
// CUDA_VISIBLE_DEVICES set to "" or "-1" hides the emulated device, as it hides a real one.
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaDeviceSynchronize();

// ---- memory -------------------------------------------------------------------------------------
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
cudaError_t cudaMalloc(void** ptr, size_t bytes);
cudaError_t cudaFree(void* ptr);            // waits for the device first, as on a GPU
cudaError_t cudaMallocHost(void** ptr, size_t bytes);  // pinned: async copies read it when they run
cudaError_t cudaFreeHost(void* ptr);

struct CUstream_st;
struct CUevent_st;
typedef CUstream_st* cudaStream_t;
typedef CUevent_st* cudaEvent_t;

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream = nullptr);
cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                              cudaMemcpyKind kind, cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* dst, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t stream = nullptr);

// ---- streams and events ---------------------------------------------------------------------------
constexpr unsigned cudaStreamDefault = 0, cudaStreamNonBlocking = 1;
constexpr unsigned cudaEventDefault = 0, cudaEventBlockingSync = 1, cudaEventDisableTiming = 2;
cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);  // runs the stream's queued work
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned flags = 0);
cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventQuery(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);

// ---- kernels: built-in variables, barriers, warp functions, atomics, the launch ----------------
#include "cuda/emulation/device_code.h"
