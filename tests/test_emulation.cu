// tests/test_emulation.cu: the CUDA semantics the backend relies on, checked on whichever device
// runs this file: on the emulated GPU (-Demulate_cuda=true, where it tests the emulation itself)
// and, compiled by nvcc, on a real GPU (where it tests that the emulation's rules are the GPU's).
// Barriers, shared memory, warp shuffles and ballots, atomics, launch limits, cuBLAS's column-major
// GEMM for every transpose pair with leading dimensions and strided batches. The cases marked
// "emulation" check what only the emulation promises: a missing barrier is wrong every time, work
// runs lazily at a synchronisation, faults name the kernel, thread and line.
//
// Suite 'gpu': without a usable CUDA device it prints why and exits 77 (skipped).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/device.h"
#include "tests/gpu_main.h"

using namespace fm;
using fm::cuda::stream;

namespace {

// ---- device buffers ----------------------------------------------------------------------------
template <class T>
struct DeviceBuffer {
  T* p = nullptr;
  size_t n;
  explicit DeviceBuffer(size_t count) : n(count) { REQUIRE(cudaMalloc(reinterpret_cast<void**>(&p), n * sizeof(T)) == cudaSuccess); }
  ~DeviceBuffer() { cudaFree(p); }
  void upload(const std::vector<T>& v) {
    REQUIRE(cudaMemcpy(p, v.data(), n * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess);
  }
  std::vector<T> download() const {
    std::vector<T> v(n);
    REQUIRE(cudaMemcpy(v.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess);
    return v;
  }
};

void sync_ok() {
  REQUIRE(cudaGetLastError() == cudaSuccess);
  REQUIRE(cudaStreamSynchronize(stream()) == cudaSuccess);
}

// ---- kernels -----------------------------------------------------------------------------------

// Each thread publishes its linear index in shared memory and, after the barrier, reads its
// neighbour's (3-D blocks: the linear index is x + y X + z X Y).
__global__ void neighbour_kernel(int* out, bool barrier) {
  __shared__ int seen[1024];
  const unsigned n = blockDim.x * blockDim.y * blockDim.z;
  const unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const unsigned b = blockIdx.x + gridDim.x * blockIdx.y;
  seen[t] = int(b * n + t);
  if (barrier) __syncthreads();
  out[b * n + t] = seen[(t + 1) % n];
}

// A block sum in shared memory: a grid-stride load, then a tree with a barrier per level.
__global__ void tree_sum_kernel(const float* x, int64_t n, double* block_sums) {
  __shared__ double part[256];
  double acc = 0.0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) acc += x[i];
  part[threadIdx.x] = acc;
  for (unsigned s = blockDim.x / 2; s > 0; s /= 2) {
    __syncthreads();
    if (threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
  }
  if (threadIdx.x == 0) block_sums[blockIdx.x] = part[0];
}

// Per thread t of a 64-thread block (two warps): the warp's sum by shuffling down, a broadcast of
// lane 3's value, the value of lane t ^ 5, of lane t - 2 (own when none), and the warp's ballot of
// odd values.
__global__ void warp_kernel(const int* in, int* sum, int* bcast, int* xored, int* up, unsigned* ballot) {
  const unsigned t = threadIdx.x;
  const int v = in[t];
  int s = v;
  for (int offset = 16; offset > 0; offset /= 2) s += __shfl_down_sync(0xffffffffu, s, offset);
  sum[t] = __shfl_sync(0xffffffffu, s, 0);
  bcast[t] = __shfl_sync(0xffffffffu, v, 3);
  xored[t] = __shfl_xor_sync(0xffffffffu, v, 5);
  up[t] = __shfl_up_sync(0xffffffffu, v, 2);
  ballot[t] = __ballot_sync(0xffffffffu, v % 2 != 0);
}

// Shuffles within groups of 8 lanes (width 8): lane t gets lane (t & ~7) + 6's value, and the
// value of t + 3 if that is in its group (else its own).
__global__ void width_kernel(const int* in, int* from6, int* down3) {
  const int v = in[threadIdx.x];
  from6[threadIdx.x] = __shfl_sync(0xffffffffu, v, 6, 8);
  down3[threadIdx.x] = __shfl_down_sync(0xffffffffu, v, 3, 8);
}

__global__ void atomic_kernel(int* counter, float* total, unsigned* biggest) {
  atomicAdd(counter, 1);
  atomicAdd(total, 0.5f);
  atomicMax(biggest, blockIdx.x * blockDim.x + threadIdx.x);
}

__global__ void empty_kernel() {}

__global__ void fill_kernel(float* out, float v, int64_t n) {
  FM_CUDA_LOOP(i, n) out[i] = v;
}

#if FM_CUDA_EMULATION
// Only thread 0 reaches the barrier; the others return first.
__global__ void early_exit_kernel(int* out) {
  if (threadIdx.x > 0) return;
  __syncthreads();
  out[0] = 1;
}
// Even and odd threads wait at different barriers.
__global__ void divergent_barrier_kernel(int* out) {
  if (threadIdx.x % 2) __syncthreads();
  else __syncthreads();
  out[threadIdx.x] = 1;
}
// Lane 0 shuffles with a mask that leaves out lane 1, which it then reads.
__global__ void bad_mask_kernel(int* out) {
  out[threadIdx.x] = __shfl_sync(0xfffffffdu, int(threadIdx.x), 1);
}
#endif

// ---- host references ---------------------------------------------------------------------------

// Column-major C = alpha op(A) op(B) + beta C in double (op = transpose when t).
void gemm_reference(bool ta, bool tb, int m, int n, int k, float alpha, const std::vector<float>& A, int lda,
                    const std::vector<float>& B, int ldb, float beta, std::vector<float>& C, int ldc) {
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      double acc = 0.0;
      for (int p = 0; p < k; ++p) acc += double(ta ? A[p + i * lda] : A[i + p * lda]) * (tb ? B[j + p * ldb] : B[p + j * ldb]);
      float& c = C[i + j * ldc];
      c = float(alpha * acc + (beta == 0.0f ? 0.0 : double(beta) * c));
    }
}

std::vector<float> pattern(size_t n, int seed) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = float(int((i * 7919 + size_t(seed) * 104729) % 201) - 100) / 64.0f;
  return v;
}

}  // namespace

TEST_CASE("a barrier makes every thread's shared write visible to the others") {
  for (dim3 block : {dim3(256), dim3(8, 4, 2), dim3(1024), dim3(33)}) {
    CAPTURE(block.x);
    const dim3 grid(3, 2);
    const unsigned n = block.x * block.y * block.z;
    DeviceBuffer<int> out(size_t(6) * n);
    FM_LAUNCH(neighbour_kernel, grid, block, 0, stream())(out.p, true);
    sync_ok();
    const std::vector<int> got = out.download();
    for (unsigned b = 0; b < 6; ++b)
      for (unsigned t = 0; t < n; ++t) REQUIRE(got[b * n + t] == int(b * n + (t + 1) % n));
  }
}

#if FM_CUDA_EMULATION
TEST_CASE("emulation: without the barrier the read is wrong, and the same every run") {
  const unsigned n = 128;
  DeviceBuffer<int> out(size_t(6) * n);
  std::vector<int> first;
  for (int run = 0; run < 2; ++run) {
    FM_LAUNCH(neighbour_kernel, dim3(3, 2), n, 0, stream())(out.p, false);
    sync_ok();
    const std::vector<int> got = out.download();
    int wrong = 0;
    for (unsigned b = 0; b < 6; ++b)
      for (unsigned t = 0; t < n; ++t) wrong += got[b * n + t] != int(b * n + (t + 1) % n);
    CHECK(wrong >= 6 * (n - 1));  // every thread but the last of each block reads before its neighbour writes
    if (run == 0) first = got;
    else CHECK(got == first);
  }
}
#endif

TEST_CASE("a shared-memory tree sum over a grid-stride loop gives the host's sum") {
  const int64_t n = (int64_t(1) << 20) + 12345;  // more than one pass of the 64 x 256 grid
  std::vector<float> x = pattern(size_t(n), 1);
  DeviceBuffer<float> dx{size_t(n)};
  DeviceBuffer<double> sums(64);
  dx.upload(x);
  FM_LAUNCH(tree_sum_kernel, 64, 256, 0, stream())(dx.p, n, sums.p);
  sync_ok();
  double device = 0.0, host = 0.0;
  for (double s : sums.download()) device += s;
  for (float v : x) host += v;
  CHECK(device == doctest::Approx(host).epsilon(1e-12));
}

TEST_CASE("warp shuffles and ballots exchange the lanes' values") {
  std::vector<int> in(64);
  for (int t = 0; t < 64; ++t) in[size_t(t)] = (t * 37 + 11) % 101;
  DeviceBuffer<int> din(64), sum(64), bcast(64), xored(64), up(64);
  DeviceBuffer<unsigned> ballot(64);
  din.upload(in);
  FM_LAUNCH(warp_kernel, 1, 64, 0, stream())(din.p, sum.p, bcast.p, xored.p, up.p, ballot.p);
  sync_ok();
  const std::vector<int> s = sum.download(), b = bcast.download(), x = xored.download(), u = up.download();
  const std::vector<unsigned> bl = ballot.download();
  for (int t = 0; t < 64; ++t) {
    CAPTURE(t);
    const int warp = t / 32 * 32;
    int total = 0;
    unsigned odd = 0;
    for (int l = 0; l < 32; ++l) total += in[size_t(warp + l)], odd |= unsigned(in[size_t(warp + l)] % 2 != 0) << l;
    CHECK(s[size_t(t)] == total);
    CHECK(b[size_t(t)] == in[size_t(warp + 3)]);
    CHECK(x[size_t(t)] == in[size_t(t ^ 5)]);
    CHECK(u[size_t(t)] == in[size_t(t % 32 >= 2 ? t - 2 : t)]);
    CHECK(bl[size_t(t)] == odd);
  }
  DeviceBuffer<int> from6(32), down3(32);
  FM_LAUNCH(width_kernel, 1, 32, 0, stream())(din.p, from6.p, down3.p);
  sync_ok();
  const std::vector<int> f = from6.download(), d = down3.download();
  for (int t = 0; t < 32; ++t) {
    CHECK(f[size_t(t)] == in[size_t((t & ~7) + 6)]);
    CHECK(d[size_t(t)] == in[size_t(t % 8 + 3 < 8 ? t + 3 : t)]);
  }
}

TEST_CASE("atomics from every thread of the grid are all counted") {
  DeviceBuffer<int> counter(1);
  DeviceBuffer<float> total(1);
  DeviceBuffer<unsigned> biggest(1);
  counter.upload({0}), total.upload({0.0f}), biggest.upload({0u});
  FM_LAUNCH(atomic_kernel, 40, 96, 0, stream())(counter.p, total.p, biggest.p);
  sync_ok();
  CHECK(counter.download()[0] == 40 * 96);
  CHECK(total.download()[0] == 0.5f * 40 * 96);  // exact: halves summed below 2^24
  CHECK(biggest.download()[0] == 40u * 96 - 1);
}

TEST_CASE("launches outside the device's limits fail, and nothing runs") {
  struct Bad {
    dim3 grid, block;
    size_t shared;
  };
  for (Bad bad : {Bad{1, 1025, 0}, Bad{1, dim3(1, 1, 65), 0}, Bad{1, dim3(64, 32), 0}, Bad{dim3(1, 65536), 1, 0},
                  Bad{dim3(1, 1, 65536), 1, 0}, Bad{1, 0, 0}, Bad{0, 32, 0}, Bad{1, 32, (size_t(48) << 10) + 1}}) {
    CAPTURE(bad.block.x);
    CAPTURE(bad.grid.y);
    FM_LAUNCH(empty_kernel, bad.grid, bad.block, bad.shared, stream())();
    CHECK(cudaGetLastError() != cudaSuccess);
    CHECK(cudaGetLastError() == cudaSuccess);  // a launch error is not sticky
  }
  // At the limits, launches work.
  FM_LAUNCH(empty_kernel, dim3(2, 65535), dim3(1, 1, 64), size_t(48) << 10, stream())();
  sync_ok();
  DeviceBuffer<float> out(2000);
  FM_LAUNCH(fill_kernel, 1, dim3(1024), 0, stream())(out.p, 3.0f, int64_t(2000));
  sync_ok();
  for (float v : out.download()) CHECK(v == 3.0f);
}

TEST_CASE("cuBLAS: column-major GEMM for every transpose pair, leading dimensions, alpha, beta, batches") {
  const int m = 13, n = 7, k = 9, pad = 3, batch = 3;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (float beta : {0.0f, 0.5f}) {
        CAPTURE(ta);
        CAPTURE(tb);
        CAPTURE(beta);
        const int lda = (ta ? k : m) + pad, ldb = (tb ? n : k) + pad, ldc = m + pad;
        const int64_t sa = int64_t(lda) * (ta ? m : k) + 5, sb = int64_t(ldb) * (tb ? k : n) + 2, sc = int64_t(ldc) * n + 1;
        std::vector<float> A = pattern(size_t(sa * batch), 2), B = pattern(size_t(sb * batch), 3), C = pattern(size_t(sc * batch), 4);
        if (beta == 0.0f)
          for (float& c : C) c = NAN;  // beta = 0: C is not read
        DeviceBuffer<float> dA(A.size()), dB(B.size()), dC(C.size());
        dA.upload(A), dB.upload(B), dC.upload(C);
        const float alpha = 1.5f;
        const cublasOperation_t opA = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opB = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
        const auto& api = cuda::blas_api();
        REQUIRE(api.sgemm_strided_batched(cuda::blas(), opA, opB, m, n, k, &alpha, dA.p, lda, sa, dB.p, ldb, sb, &beta, dC.p,
                                          ldc, sc, batch) == CUBLAS_STATUS_SUCCESS);
        sync_ok();
        const std::vector<float> got = dC.download();
        for (int b = 0; b < batch; ++b) {
          std::vector<float> a(A.begin() + b * sa, A.begin() + (b + 1) * sa), bb(B.begin() + b * sb, B.begin() + (b + 1) * sb);
          std::vector<float> c(C.begin() + b * sc, C.begin() + (b + 1) * sc);
          gemm_reference(ta, tb, m, n, k, alpha, a, lda, bb, ldb, beta, c, ldc);
          for (int j = 0; j < n; ++j)
            for (int i = 0; i < ldc; ++i) {
              const float want = c[size_t(i + j * ldc)], have = got[size_t(b * sc + i + j * ldc)];
              if (i >= m) CHECK((std::isnan(want) ? std::isnan(have) : have == want));  // the padding is untouched
              else CHECK(have == doctest::Approx(want).epsilon(1e-5));
            }
        }
        // The single-matrix call agrees with the first matrix of the batch.
        DeviceBuffer<float> dC1{size_t(sc)};
        dC1.upload(std::vector<float>(C.begin(), C.begin() + sc));
        REQUIRE(api.sgemm(cuda::blas(), opA, opB, m, n, k, &alpha, dA.p, lda, dB.p, ldb, &beta, dC1.p, ldc) == CUBLAS_STATUS_SUCCESS);
        sync_ok();
        const std::vector<float> one = dC1.download();
        for (int j = 0; j < n; ++j)
          for (int i = 0; i < m; ++i) CHECK(one[size_t(i + j * ldc)] == got[size_t(i + j * ldc)]);
      }
  // A leading dimension below the matrix's rows is refused.
  DeviceBuffer<float> d(64);
  const float one = 1.0f, zero = 0.0f;
  CHECK(cuda::blas_api().sgemm(cuda::blas(), CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, d.p, 3, d.p, 4, &zero, d.p, 4) != CUBLAS_STATUS_SUCCESS);
}

TEST_CASE("an upload from pageable memory may reuse its source at once") {
  std::vector<float> host(1000, 1.0f);
  DeviceBuffer<float> dev(1000);
  REQUIRE(cudaMemcpyAsync(dev.p, host.data(), 4000, cudaMemcpyHostToDevice, stream()) == cudaSuccess);
  std::fill(host.begin(), host.end(), 2.0f);
  sync_ok();
  for (float v : dev.download()) CHECK(v == 1.0f);
}

#if FM_CUDA_EMULATION
TEST_CASE("emulation: work runs at the synchronisation, so an early host read is stale") {
  DeviceBuffer<float> dev(1000);
  FM_LAUNCH(fill_kernel, 4, 256, 0, stream())(dev.p, 7.0f, int64_t(1000));
  std::vector<float> host(1000, -1.0f);
  REQUIRE(cudaMemcpyAsync(host.data(), dev.p, 4000, cudaMemcpyDeviceToHost, stream()) == cudaSuccess);
  CHECK(host[0] == -1.0f);  // not yet: nothing has synchronised
  cudaEvent_t done;
  REQUIRE(cudaEventCreate(&done) == cudaSuccess);
  REQUIRE(cudaEventRecord(done, stream()) == cudaSuccess);
  CHECK(cudaEventQuery(done) == cudaErrorNotReady);
  REQUIRE(cudaEventSynchronize(done) == cudaSuccess);
  CHECK(cudaEventQuery(done) == cudaSuccess);
  CHECK(host[999] == 7.0f);
  cudaEventDestroy(done);
  // A pinned source is read when the copy runs (a GPU's DMA reads it then too).
  float* pinned = nullptr;
  REQUIRE(cudaMallocHost(reinterpret_cast<void**>(&pinned), 4000) == cudaSuccess);
  std::fill(pinned, pinned + 1000, 1.0f);
  REQUIRE(cudaMemcpyAsync(dev.p, pinned, 4000, cudaMemcpyHostToDevice, stream()) == cudaSuccess);
  std::fill(pinned, pinned + 1000, 2.0f);
  sync_ok();
  CHECK(dev.download()[0] == 2.0f);
  cudaFreeHost(pinned);
}

TEST_CASE("emulation: device memory starts as NaN; copies and memsets must stay inside an allocation") {
  DeviceBuffer<float> dev(100);
  for (float v : dev.download()) CHECK(std::isnan(v));
  std::vector<float> host(101);
  CHECK(cudaMemcpyAsync(host.data(), dev.p, 101 * sizeof(float), cudaMemcpyDeviceToHost, stream()) == cudaErrorInvalidValue);
  CHECK(cudaMemcpyAsync(dev.p, host.data(), 4, cudaMemcpyDeviceToHost, stream()) == cudaErrorInvalidValue);  // kinds swapped
  CHECK(cudaMemsetAsync(dev.p + 1, 0, 100 * sizeof(float), stream()) == cudaErrorInvalidValue);
  CHECK(cudaMemcpy2DAsync(dev.p, size_t(1) << 31, dev.p, 4, 4, 1, cudaMemcpyDeviceToDevice, stream()) == cudaErrorInvalidPitchValue);
  CHECK(cudaGetLastError() != cudaSuccess);
  CHECK(cudaGetLastError() == cudaSuccess);
}

TEST_CASE("emulation: NCCL at one rank") {
  void* lib = cuda::open_library("NCCL", {"libnccl.so.2"});
  using Init = int (*)(void**, int, std::array<char, 128>, int);
  using AllReduce = int (*)(const void*, void*, size_t, int, int, void*, cudaStream_t);
  using Destroy = int (*)(void*);
  Init init = nullptr;
  AllReduce all_reduce = nullptr;
  Destroy destroy = nullptr;
  cuda::resolve(lib, "NCCL", "ncclCommInitRank", init);
  cuda::resolve(lib, "NCCL", "ncclAllReduce", all_reduce);
  cuda::resolve(lib, "NCCL", "ncclCommDestroy", destroy);
  void* comm = nullptr;
  CHECK(init(&comm, 2, {}, 1) != 0);  // one device: one rank
  REQUIRE(init(&comm, 1, {}, 0) == 0);
  DeviceBuffer<float> a(10), b(10);
  a.upload(std::vector<float>(10, 4.0f));
  REQUIRE(all_reduce(a.p, b.p, 10, 7, 0, comm, stream()) == 0);
  sync_ok();
  CHECK(b.download() == std::vector<float>(10, 4.0f));
  CHECK(destroy(comm) == 0);
}

// A fault loses the context (every later call fails), so each runs in a child process; the child
// reports what the emulation printed through its exit status and stderr.
int fault_status(void (*launch)(int*)) {
  const pid_t pid = fork();
  if (pid == 0) {
    int* out = nullptr;
    cudaMalloc(reinterpret_cast<void**>(&out), 64 * sizeof(int));
    launch(out);
    const cudaError_t sync = cudaStreamSynchronize(stream());
    const cudaError_t later = cudaMemsetAsync(out, 0, 4, stream());
    _exit(sync == cudaErrorLaunchFailure && later == cudaErrorLaunchFailure ? 3 : 4);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_CASE("emulation: barriers that not every thread reaches, and bad shuffle masks, are faults") {
  CHECK(fault_status([](int* out) { FM_LAUNCH(early_exit_kernel, 2, 64, 0, stream())(out); }) == 3);
  CHECK(fault_status([](int* out) { FM_LAUNCH(divergent_barrier_kernel, 1, 64, 0, stream())(out); }) == 3);
  CHECK(fault_status([](int* out) { FM_LAUNCH(bad_mask_kernel, 1, 32, 0, stream())(out); }) == 3);
  // The same launches done right do not fault.
  CHECK(fault_status([](int* out) { FM_LAUNCH(neighbour_kernel, 1, 64, 0, stream())(out, true); }) == 4);
}
#endif

int main(int argc, char** argv) { return gpu_suite_main(argc, argv); }
