// cuda/emulation/nccl.cpp: NCCL at one rank, the only count the emulated device supports: the
// sum over one rank is a copy (nothing in place), queued on the stream like the real all-reduce.
// The entry points are reached by name, as cuda/nccl.cu reaches the real library's.
#include <cstring>
#include <string>

#include "cuda/emulation/runtime.h"

namespace fm_emu {

namespace {

// NCCL's C API as it passes its arguments (ncclUniqueId, ncclResult_t, ncclComm_t).
struct UniqueId {
  char internal[128];
};
struct Comm {
  int rank;
};
enum Result { kSuccess = 0, kUnhandledCudaError = 1, kInvalidArgument = 4 };
constexpr int kFloat32 = 7, kSum = 0;

int get_unique_id(UniqueId* id) {
  std::memset(id->internal, 0, sizeof id->internal);
  std::memcpy(id->internal, "fm cuda emulation", 18);
  return kSuccess;
}

int comm_init_rank(Comm** comm, int nranks, UniqueId, int rank) {
  if (nranks != 1 || rank != 0) {
    report("ncclCommInitRank: rank " + std::to_string(rank) + " of " + std::to_string(nranks) +
           ", but the emulated device is one GPU, so NCCL has one rank");
    return kInvalidArgument;
  }
  *comm = new Comm{0};
  return kSuccess;
}

int all_reduce(const void* send, void* recv, size_t count, int datatype, int op, Comm* comm, cudaStream_t stream) {
  const size_t bytes = count * sizeof(float);
  if (!comm || datatype != kFloat32 || op != kSum) {
    report("ncclAllReduce: the emulation sums float32 only, on an initialised communicator");
    return kInvalidArgument;
  }
  if (!is_device_range(send, bytes) || !is_device_range(recv, bytes)) {
    report("ncclAllReduce: a buffer of " + std::to_string(bytes) + " bytes is not inside one device allocation");
    return kInvalidArgument;
  }
  if (send == recv) return kSuccess;
  return enqueue(stream, [send, recv, bytes] { std::memmove(recv, send, bytes); }) ? kUnhandledCudaError : kSuccess;
}

int comm_destroy(Comm* comm) {
  delete comm;
  return kSuccess;
}

const char* error_string(int result) {
  switch (result) {
    case kSuccess: return "no error";
    case kUnhandledCudaError: return "unhandled cuda error";
    case kInvalidArgument: return "invalid argument (see the emulation's message above)";
  }
  return "unknown NCCL result";
}

}  // namespace

void* nccl_symbol(const char* name) {
  static const Symbol table[] = {
      {"ncclGetUniqueId", reinterpret_cast<void*>(&get_unique_id)},
      {"ncclCommInitRank", reinterpret_cast<void*>(&comm_init_rank)},
      {"ncclAllReduce", reinterpret_cast<void*>(&all_reduce)},
      {"ncclCommDestroy", reinterpret_cast<void*>(&comm_destroy)},
      {"ncclGetErrorString", reinterpret_cast<void*>(&error_string)},
  };
  return find_symbol(table, name);
}

}  // namespace fm_emu
