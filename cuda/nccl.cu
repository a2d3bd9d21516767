// cuda/nccl.cu: NCCL for the gradient all-reduce between GPUs (dist/), and the choice of device
// per process. NCCL is loaded with dlopen on first use, as cuBLAS is (cuda/blas.cu): a run on one
// GPU or on the CPU never loads it, and a machine without it gets one line naming the library.
// So nccl.h is not needed either: the few types its C API passes are declared here.
#include <cstring>
#include <stdexcept>
#include <string>

#include "cuda/common.cuh"
#include "cuda/device.h"

namespace fm::cuda {

void use_device(int local_rank, int local_ranks) {
  int count = 0;
  check(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
  if (count < 1) throw std::runtime_error("no CUDA device found");
  if (local_ranks > count)
    throw std::runtime_error(std::to_string(local_ranks) + " processes on this host for " + std::to_string(count) +
                             " GPU" + (count == 1 ? "" : "s") + ": a data-parallel CUDA run needs one GPU per process");
  check(cudaSetDevice(local_rank), "cudaSetDevice");
}

namespace {

// NCCL's C API as nccl.h declares it: ncclUniqueId is 128 bytes passed by value, ncclResult_t,
// ncclDataType_t and ncclRedOp_t are int-sized enums, ncclComm_t is an opaque pointer.
struct ncclUniqueId {
  char internal[128];
};
typedef struct ncclComm* ncclComm_t;
typedef int ncclResult_t;
constexpr ncclResult_t ncclSuccess = 0;
constexpr int ncclFloat32 = 7, ncclSum = 0;

struct NcclApi {
  ncclResult_t (*get_unique_id)(ncclUniqueId* id);
  ncclResult_t (*comm_init_rank)(ncclComm_t* comm, int nranks, ncclUniqueId id, int rank);
  ncclResult_t (*all_reduce)(const void* send, void* recv, size_t count, int datatype, int op, ncclComm_t comm,
                             cudaStream_t stream);
  ncclResult_t (*comm_destroy)(ncclComm_t comm);
  const char* (*error_string)(ncclResult_t result);
};

const NcclApi& nccl() {
  static const NcclApi api = [] {
    void* lib = open_library("NCCL", {"libnccl.so.2", "libnccl.so"});
    NcclApi a{};
    resolve(lib, "NCCL", "ncclGetUniqueId", a.get_unique_id);
    resolve(lib, "NCCL", "ncclCommInitRank", a.comm_init_rank);
    resolve(lib, "NCCL", "ncclAllReduce", a.all_reduce);
    resolve(lib, "NCCL", "ncclCommDestroy", a.comm_destroy);
    resolve(lib, "NCCL", "ncclGetErrorString", a.error_string);
    return a;
  }();
  return api;
}

void check_nccl(ncclResult_t status, const char* what) {
  if (status != ncclSuccess) throw std::runtime_error(std::string(what) + ": " + nccl().error_string(status));
}

ncclComm_t communicator = nullptr;

}  // namespace

std::string nccl_unique_id() {
  ncclUniqueId id;
  check_nccl(nccl().get_unique_id(&id), "ncclGetUniqueId");
  return std::string(id.internal, sizeof id.internal);
}

void nccl_init(const std::string& id_bytes, int rank, int size) {
  ncclUniqueId id;
  if (id_bytes.size() != sizeof id.internal) throw std::runtime_error("nccl_init: a unique id has " + std::to_string(sizeof id.internal) + " bytes");
  std::memcpy(id.internal, id_bytes.data(), sizeof id.internal);
  check_nccl(nccl().comm_init_rank(&communicator, size, id, rank), "ncclCommInitRank");
}

// In place, on the backend's one stream: ordered after the kernels that wrote the gradients and
// before those that read the sums, with no host synchronisation.
void nccl_allreduce_sum(float* data, size_t count) {
  if (!communicator) throw std::runtime_error("nccl_allreduce_sum: NCCL is not initialised");
  check_nccl(nccl().all_reduce(data, data, count, ncclFloat32, ncclSum, communicator, stream()), "ncclAllReduce");
  count_launch();
}

void nccl_finalize() {
  if (communicator) nccl().comm_destroy(communicator);
  communicator = nullptr;
}

}  // namespace fm::cuda
