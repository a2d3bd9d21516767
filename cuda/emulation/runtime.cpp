// cuda/emulation/runtime.cpp: the emulated CUDA runtime: one H100-like device, its memory as
// separate host allocations, streams as queues of work that run when the host synchronises, events,
// copies and launches checked as a GPU checks them. Errors are CUDA's codes; the detail behind a
// launch or copy error goes to stderr in one line (a GPU says only "invalid argument").
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cuda/emulation/block.h"
#include "cuda/emulation/runtime.h"

struct CUstream_st {
  struct Work {
    uint64_t seq;
    std::function<void()> run;
  };
  std::deque<Work> queue;
  uint64_t next_seq = 1;
  unsigned flags = 0;
};

struct CUevent_st {
  cudaStream_t stream = nullptr;  // where it was last recorded (null: never)
  uint64_t seq = 0;               // the queue position it marks
  bool happened = false;
  bool timing = true;
  std::chrono::steady_clock::time_point when;
};

namespace fm_emu {

namespace {

constexpr size_t kMaxPitch = 2147483647;           // cudaDeviceProp::memPitch of an H100
constexpr size_t kSharedPerBlock = size_t(48) << 10;  // without an opt-in

struct Device {
  std::recursive_mutex mu;
  CUstream_st legacy;  // stream 0
  std::set<cudaStream_t> streams;
  std::set<cudaEvent_t> events;
  std::map<uintptr_t, size_t> device_blocks, pinned_blocks;  // start -> bytes
  cudaError_t last = cudaSuccess;    // the last call's error, until cudaGetLastError
  cudaError_t sticky = cudaSuccess;  // a kernel fault: every later call returns it
};

Device& dev() {
  static Device* d = new Device;  // never destroyed: backend destructors may call in at exit
  return *d;
}

using Lock = std::lock_guard<std::recursive_mutex>;

cudaError_t fail(cudaError_t e, const std::string& detail = "") {
  if (!detail.empty()) report(detail);
  dev().last = e;
  return e;
}

// The sticky error, or success: every API call starts here.
cudaError_t healthy() { return dev().sticky; }

cudaStream_t resolve(cudaStream_t s) { return s ? s : &dev().legacy; }
bool valid_stream(cudaStream_t s) { return !s || dev().streams.count(s); }

// The live allocation in `blocks` that holds [p, p + bytes), or none.
bool inside(const std::map<uintptr_t, size_t>& blocks, const void* p, size_t bytes) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = blocks.upper_bound(a);
  if (it == blocks.begin()) return false;
  --it;
  return a >= it->first && a - it->first <= it->second && bytes <= it->second - (a - it->first);
}
bool touches_device(const void* p) { return inside(dev().device_blocks, p, 1); }

std::string hex(const void* p) {
  char s[32];
  std::snprintf(s, sizeof s, "%p", p);
  return s;
}

// Runs the stream's queued work up to and including position `seq`. A kernel fault becomes the
// sticky error and drops all queued work, as a lost GPU context would.
cudaError_t run_until(cudaStream_t s, uint64_t seq) {
  Device& d = dev();
  while (d.sticky == cudaSuccess && !s->queue.empty() && s->queue.front().seq <= seq) {
    std::function<void()> work = std::move(s->queue.front().run);
    s->queue.pop_front();
    try {
      work();
    } catch (const KernelFault& f) {
      report(f.message);
      d.sticky = d.last = cudaErrorLaunchFailure;
      d.legacy.queue.clear();
      for (cudaStream_t other : d.streams) other->queue.clear();
    }
  }
  return d.sticky;
}
cudaError_t drain(cudaStream_t s) { return run_until(s, UINT64_MAX); }

cudaError_t drain_all() {
  for (cudaStream_t s : dev().streams) drain(s);
  return drain(&dev().legacy);
}

// Work on the legacy stream waits for the blocking streams' earlier work, as on a GPU.
cudaError_t sync_stream(cudaStream_t s) {
  if (s == &dev().legacy)
    for (cudaStream_t other : dev().streams)
      if (!(other->flags & cudaStreamNonBlocking)) drain(other);
  return drain(s);
}

// The checks of a copy's two sides: device sides inside one allocation, host sides not device memory.
cudaError_t check_copy(const char* call, void* dst, const void* src, size_t dst_span, size_t src_span, cudaMemcpyKind& kind) {
  if (int(kind) < 0 || int(kind) > 4) return fail(cudaErrorInvalidMemcpyDirection, std::string(call) + ": no such copy direction");
  if (kind == cudaMemcpyDefault) {  // inferred from the pointers (unified addressing)
    const bool from = touches_device(src), to = touches_device(dst);
    kind = from ? (to ? cudaMemcpyDeviceToDevice : cudaMemcpyDeviceToHost) : (to ? cudaMemcpyHostToDevice : cudaMemcpyHostToHost);
  }
  const bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  auto side = [&](const void* p, size_t span, bool device, const char* which) -> std::string {
    if (device && !inside(dev().device_blocks, p, span))
      return std::string(call) + ": the " + which + " (" + std::to_string(span) + " bytes from " + hex(p) +
             ") is not inside one device allocation";
    if (!device && touches_device(p)) return std::string(call) + ": the " + which + " is device memory, but the copy's kind says host";
    return "";
  };
  std::string why = side(dst, dst_span, dst_dev, "destination");
  if (why.empty()) why = side(src, src_span, src_dev, "source");
  return why.empty() ? cudaSuccess : fail(cudaErrorInvalidValue, why);
}

// FM_EMU_PROFILE=1: launches and seconds per kernel, printed at exit (where the emulation's time goes).
void profile(const char* kernel, double seconds) {
  struct Totals {
    std::map<std::string, std::pair<int64_t, double>> by_kernel;
    ~Totals() {
      std::vector<std::pair<double, std::string>> rows;
      for (const auto& [k, v] : by_kernel) rows.push_back({v.second, k});
      std::sort(rows.rbegin(), rows.rend());
      for (const auto& [sec, k] : rows)
        std::fprintf(stderr, "fm cuda emulation profile: %9.3f s %8lld launches  %s\n", sec, (long long)by_kernel[k].first, k.c_str());
    }
  };
  static const bool on = std::getenv("FM_EMU_PROFILE") != nullptr;
  if (!on) return;
  static Totals totals;
  auto& t = totals.by_kernel[kernel];
  ++t.first, t.second += seconds;
}

}  // namespace

void report(const std::string& what) { std::fprintf(stderr, "fm cuda emulation: %s\n", what.c_str()); }

cudaError_t enqueue(cudaStream_t stream, std::function<void()> work) {
  Device& d = dev();
  Lock lock(d.mu);
  if (healthy()) return healthy();
  if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle, "work queued on a stream that does not exist");
  cudaStream_t s = resolve(stream);
  s->queue.push_back({s->next_seq++, std::move(work)});
  return cudaSuccess;
}

bool is_device_range(const void* p, size_t bytes) {
  Lock lock(dev().mu);
  return inside(dev().device_blocks, p, bytes);
}

void launch(const LaunchConfig& c, std::function<void()> thread) {
  Lock lock(dev().mu);
  const uint64_t threads = uint64_t(c.block.x) * c.block.y * c.block.z;
  const uint64_t blocks = uint64_t(c.grid.x) * c.grid.y * c.grid.z;
  auto refuse = [&](cudaError_t e, const std::string& what) { fail(e, std::string("launch of ") + c.kernel + ": " + what); };
  auto dims = [](const dim3& d) { return std::to_string(d.x) + "x" + std::to_string(d.y) + "x" + std::to_string(d.z); };
  if (threads == 0 || blocks == 0) return refuse(cudaErrorInvalidConfiguration, "an empty grid or block");
  if (threads > 1024 || c.block.x > 1024 || c.block.y > 1024 || c.block.z > 64)
    return refuse(cudaErrorInvalidConfiguration,
                  "a block of " + dims(c.block) + " threads (at most 1024, and 1024x1024x64 per dimension)");
  if (c.grid.x > 2147483647u || c.grid.y > 65535 || c.grid.z > 65535)
    return refuse(cudaErrorInvalidConfiguration, "a grid of " + dims(c.grid) + " blocks (x at most 2^31-1, y and z at most 65535)");
  if (c.shared_bytes > kSharedPerBlock)
    return refuse(cudaErrorInvalidValue, std::to_string(c.shared_bytes) +
                                             " bytes of dynamic shared memory (at most 48 KiB; the emulation has no opt-in)");
  const LaunchConfig config = c;
  if (cudaError_t e = enqueue(c.stream, [config, thread = std::move(thread)] {
        const auto t0 = std::chrono::steady_clock::now();
        run_grid(config, thread);
        profile(config.kernel, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }))
    fail(e);
}

// The handle is the library's name; its entry points come from cublas.cpp and nccl.cpp.
void* open_library(const char* what) { return const_cast<char*>(what); }

void* find_symbol(std::span<const Symbol> table, const char* name) {
  for (const Symbol& s : table)
    if (std::strcmp(s.name, name) == 0) return s.fn;
  return nullptr;
}

void* library_symbol(void* library, const char* name) {
  const std::string what = static_cast<const char*>(library);
  return what == "cuBLAS" ? cublas_symbol(name) : what == "NCCL" ? nccl_symbol(name) : nullptr;
}

}  // namespace fm_emu

using namespace fm_emu;

// ---- errors -------------------------------------------------------------------------------------
const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidPitchValue: return "cudaErrorInvalidPitchValue";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidPitchValue: return "invalid pitch argument";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorLaunchFailure: return "unspecified launch failure (emulation: see the fault above)";
  }
  return "unknown error";
}

cudaError_t cudaGetLastError() {
  Lock lock(dev().mu);
  const cudaError_t e = dev().sticky ? dev().sticky : dev().last;
  dev().last = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError() {
  Lock lock(dev().mu);
  return dev().sticky ? dev().sticky : dev().last;
}

// ---- device -------------------------------------------------------------------------------------
cudaError_t cudaGetDeviceCount(int* count) {
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  const bool hidden = visible && (visible[0] == '\0' || std::strcmp(visible, "-1") == 0);
  *count = hidden ? 0 : 1;
  return hidden ? fail(cudaErrorNoDevice) : cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (device != 0) return fail(cudaErrorInvalidDevice);
  *p = cudaDeviceProp{};
  std::snprintf(p->name, sizeof p->name, "NVIDIA H100 80GB HBM3");
  p->totalGlobalMem = size_t(80) << 30;
  p->sharedMemPerBlock = kSharedPerBlock;
  p->sharedMemPerBlockOptin = size_t(227) << 10;
  p->warpSize = 32;
  p->memPitch = kMaxPitch;
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsDim[0] = 1024, p->maxThreadsDim[1] = 1024, p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 2147483647, p->maxGridSize[1] = 65535, p->maxGridSize[2] = 65535;
  p->major = 9, p->minor = 0;
  p->multiProcessorCount = 132;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) { return device == 0 ? healthy() : fail(cudaErrorInvalidDevice); }
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return healthy();
}

cudaError_t cudaDeviceSynchronize() {
  Lock lock(dev().mu);
  return drain_all();
}

// ---- memory -------------------------------------------------------------------------------------
namespace fm_emu {
namespace {

// A block of exactly `bytes` (so AddressSanitizer sees an overrun at its end), recorded in `blocks`.
cudaError_t allocate(std::map<uintptr_t, size_t>& blocks, void** ptr, size_t bytes, size_t align) {
  Lock lock(dev().mu);
  *ptr = nullptr;
  if (healthy()) return healthy();
  void* p = nullptr;
  if (posix_memalign(&p, align, bytes ? bytes : 1) != 0 || !p) return fail(cudaErrorMemoryAllocation);
  blocks[reinterpret_cast<uintptr_t>(p)] = bytes;
  *ptr = p;
  return cudaSuccess;
}

// Frees a block of `blocks` after the device is idle (a GPU's free waits for it).
cudaError_t release(std::map<uintptr_t, size_t>& blocks, void* ptr, const char* what) {
  Lock lock(dev().mu);
  if (!ptr) return healthy();
  drain_all();
  auto it = blocks.find(reinterpret_cast<uintptr_t>(ptr));
  if (it == blocks.end()) return fail(cudaErrorInvalidValue, what);
  blocks.erase(it);
  std::free(ptr);
  return healthy();
}

}  // namespace
}  // namespace fm_emu

// Device memory starts as 0xff bytes (NaN as floats): a kernel that reads memory nobody wrote gets NaN.
cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  const cudaError_t e = allocate(dev().device_blocks, ptr, bytes, 256);
  if (e == cudaSuccess) std::memset(*ptr, 0xff, bytes);
  return e;
}
cudaError_t cudaFree(void* ptr) {
  return release(dev().device_blocks, ptr, "cudaFree of a pointer that cudaMalloc did not return");
}
cudaError_t cudaMallocHost(void** ptr, size_t bytes) { return allocate(dev().pinned_blocks, ptr, bytes, 64); }
cudaError_t cudaFreeHost(void* ptr) {
  return release(dev().pinned_blocks, ptr, "cudaFreeHost of a pointer that cudaMallocHost did not return");
}

// An asynchronous copy reads and writes host memory when it runs, as a GPU's DMA does, with one
// exception that CUDA documents: from pageable (not pinned) memory the source is staged at the
// call, so the host may reuse it at once. Downloads are deferred even into pageable memory (a GPU
// may complete those early): reading the host side before synchronising is always a bug.
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  Lock lock(dev().mu);
  if (healthy()) return healthy();
  if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
  if (bytes == 0) return cudaSuccess;
  if (cudaError_t e = check_copy("cudaMemcpyAsync", dst, src, bytes, bytes, kind)) return e;
  if (kind == cudaMemcpyHostToDevice && !inside(dev().pinned_blocks, src, bytes)) {
    std::vector<char> staged(static_cast<const char*>(src), static_cast<const char*>(src) + bytes);
    return enqueue(stream, [dst, staged = std::move(staged)] { std::memcpy(dst, staged.data(), staged.size()); });
  }
  return enqueue(stream, [dst, src, bytes] { std::memmove(dst, src, bytes); });
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  Lock lock(dev().mu);
  if (cudaError_t e = cudaMemcpyAsync(dst, src, bytes, kind, nullptr)) return e;
  return sync_stream(&dev().legacy);
}

// `height` rows of `width` bytes; pitches above the device's memPitch are refused, as on a GPU.
cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                              cudaMemcpyKind kind, cudaStream_t stream) {
  Lock lock(dev().mu);
  if (healthy()) return healthy();
  if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
  if (width == 0 || height == 0) return cudaSuccess;
  if (dpitch < width || spitch < width) return fail(cudaErrorInvalidPitchValue, "cudaMemcpy2DAsync: a pitch below the width");
  if (dpitch > kMaxPitch || spitch > kMaxPitch)
    return fail(cudaErrorInvalidPitchValue, "cudaMemcpy2DAsync: a pitch of " + std::to_string(std::max(dpitch, spitch)) +
                                                " bytes (memPitch is 2^31-1)");
  const size_t dspan = dpitch * (height - 1) + width, sspan = spitch * (height - 1) + width;
  if (cudaError_t e = check_copy("cudaMemcpy2DAsync", dst, src, dspan, sspan, kind)) return e;
  return enqueue(stream, [=] {
    for (size_t r = 0; r < height; ++r)
      std::memmove(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch, width);
  });
}

cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t stream) {
  Lock lock(dev().mu);
  if (healthy()) return healthy();
  if (bytes == 0) return valid_stream(stream) ? cudaSuccess : fail(cudaErrorInvalidResourceHandle);
  if (!inside(dev().device_blocks, dst, bytes))
    return fail(cudaErrorInvalidValue, "cudaMemsetAsync: " + std::to_string(bytes) + " bytes from " + hex(dst) + " are not inside one device allocation");
  return enqueue(stream, [dst, value, bytes] { std::memset(dst, value, bytes); });
}

cudaError_t cudaMemset(void* dst, int value, size_t bytes) {
  Lock lock(dev().mu);
  if (cudaError_t e = cudaMemsetAsync(dst, value, bytes, nullptr)) return e;
  return sync_stream(&dev().legacy);
}

// ---- streams and events ---------------------------------------------------------------------------
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
  Lock lock(dev().mu);
  *stream = new CUstream_st;
  (*stream)->flags = flags;
  dev().streams.insert(*stream);
  return healthy();
}
cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  Lock lock(dev().mu);
  if (!stream || !dev().streams.count(stream)) return fail(cudaErrorInvalidResourceHandle);
  drain(stream);  // queued work still runs, as on a GPU
  dev().streams.erase(stream);
  delete stream;
  return healthy();
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  Lock lock(dev().mu);
  if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
  return sync_stream(resolve(stream));
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags) {
  Lock lock(dev().mu);
  *event = new CUevent_st;
  (*event)->timing = !(flags & cudaEventDisableTiming);
  dev().events.insert(*event);
  return healthy();
}
cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  Lock lock(dev().mu);
  if (!dev().events.erase(event)) return fail(cudaErrorInvalidResourceHandle);
  delete event;
  return healthy();
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  Lock lock(dev().mu);
  if (!dev().events.count(event)) return fail(cudaErrorInvalidResourceHandle);
  if (healthy()) return healthy();
  if (!valid_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
  cudaStream_t s = resolve(stream);
  event->stream = s, event->seq = s->next_seq, event->happened = false;
  return enqueue(stream, [event] {
    event->happened = true;
    event->when = std::chrono::steady_clock::now();
  });
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  Lock lock(dev().mu);
  if (!dev().events.count(event)) return fail(cudaErrorInvalidResourceHandle);
  return event->stream ? run_until(event->stream, event->seq) : healthy();
}

cudaError_t cudaEventQuery(cudaEvent_t event) {
  Lock lock(dev().mu);
  if (!dev().events.count(event)) return fail(cudaErrorInvalidResourceHandle);
  if (healthy()) return healthy();
  return !event->stream || event->happened ? cudaSuccess : cudaErrorNotReady;
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  Lock lock(dev().mu);
  if (!dev().events.count(start) || !dev().events.count(end)) return fail(cudaErrorInvalidResourceHandle);
  if (!start->timing || !end->timing) return fail(cudaErrorInvalidResourceHandle);
  if (!start->happened || !end->happened) return fail(cudaErrorNotReady);
  *ms = std::chrono::duration<float, std::milli>(end->when - start->when).count();
  return healthy();
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned) {
  Lock lock(dev().mu);
  if (!dev().events.count(event)) return fail(cudaErrorInvalidResourceHandle);
  if (!event->stream) return healthy();
  cudaStream_t other = event->stream;
  const uint64_t seq = event->seq;
  return enqueue(stream, [other, seq] { run_until(other, seq); });
}
