// dist/mpi.cpp: dist/dist.h over MPI (built with -Dmpi, Open MPI from Debian). Host buffers go
// through MPI; CUDA buffers through NCCL (cuda/nccl.cu), whose communicator is set up on the first
// device all-reduce with an id that rank 0 makes and MPI broadcasts.
#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "cuda/device.h"
#include "dist/dist.h"

namespace fm::dist {

namespace {

bool started = false;  // MPI_Init ran (launched by mpirun)
int my_rank = 0, world_size = 1, my_local_rank = 0, local_size = 1;
bool nccl_ready = false;

void check(int status, const char* what) {
  if (status == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(status, msg, &len);
  throw std::runtime_error(std::string(what) + ": " + std::string(msg, len));
}

int to_int(int64_t n, const char* what) {
  if (n > int64_t(INT32_MAX)) throw std::runtime_error(std::string(what) + ": " + std::to_string(n) + " elements is more than MPI's int counts take");
  return int(n);
}

}  // namespace

void init(int* argc, char*** argv) {
  if (started || !launched_by_mpirun()) return;
  int provided = 0;
  // Only the main thread calls MPI; the worker threads (tensor/cpu/thread_pool.h) only compute.
  check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  started = true;
  // Errors come back as codes (turned into exceptions above), so a rank can report what failed
  // and then abort the whole run, instead of MPI killing it without a word.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  check(MPI_Comm_rank(MPI_COMM_WORLD, &my_rank), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &world_size), "MPI_Comm_size");
  MPI_Comm local;
  check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, my_rank, MPI_INFO_NULL, &local), "MPI_Comm_split_type");
  check(MPI_Comm_rank(local, &my_local_rank), "MPI_Comm_rank");
  check(MPI_Comm_size(local, &local_size), "MPI_Comm_size");
  MPI_Comm_free(&local);
}

void finalize() {
  if (!started) return;
  if (nccl_ready) cuda::nccl_finalize();
  MPI_Finalize();
  started = false;
}

void abort(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  if (started && world_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

int rank() { return my_rank; }
int size() { return world_size; }

std::string describe() {
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(version, &len);
  std::string v(version, len);
  if (auto cut = v.find(','); cut != std::string::npos) v.resize(cut);  // "Open MPI v4.1.4, package: ..." -> its name
  return "MPI built (" + v + "); " +
         (started ? "rank " + std::to_string(my_rank) + " of " + std::to_string(world_size) : std::string("not started by mpirun"));
}

void bind_device(Device device) {
  if (device == Device::CUDA && world_size > 1) cuda::use_device(my_local_rank, local_size);
}

namespace {

// The NCCL communicator of every rank, made on first use: rank 0's id, broadcast over MPI.
void ensure_nccl() {
  if (nccl_ready) return;
  std::string id = my_rank == 0 ? cuda::nccl_unique_id() : std::string();
  int len = int(id.size());
  check(MPI_Bcast(&len, 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Bcast");
  id.resize(size_t(len));
  check(MPI_Bcast(id.data(), len, MPI_CHAR, 0, MPI_COMM_WORLD), "MPI_Bcast");
  cuda::nccl_init(id, my_rank, world_size);
  nccl_ready = true;
}

// A reduce-scatter in which rank r sums chunk r of every rank's buffer in rank order, then an
// all-gather of the sums: the bandwidth of a ring all-reduce, a fixed order of additions.
void allreduce_host(float* x, int64_t n) {
  static std::vector<float> received;  // reused: no allocation in the steady state
  std::vector<int> send_counts(world_size), send_displs(world_size), recv_counts(world_size), recv_displs(world_size);
  const RowRange mine = split_rows(n, my_rank, world_size);
  for (int r = 0; r < world_size; ++r) {
    const RowRange c = split_rows(n, r, world_size);
    send_counts[r] = to_int(c.count, "all-reduce");
    send_displs[r] = to_int(c.first, "all-reduce");
    recv_counts[r] = to_int(mine.count, "all-reduce");
    recv_displs[r] = to_int(r * mine.count, "all-reduce");
  }
  received.resize(size_t(world_size * mine.count));
  check(MPI_Alltoallv(x, send_counts.data(), send_displs.data(), MPI_FLOAT, received.data(), recv_counts.data(),
                      recv_displs.data(), MPI_FLOAT, MPI_COMM_WORLD),
        "MPI_Alltoallv");
  std::vector<const float*> parts(world_size);
  for (int r = 0; r < world_size; ++r) parts[r] = received.data() + r * mine.count;
  sum_in_rank_order(x + mine.first, parts, mine.count);
  check(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, x, send_counts.data(), send_displs.data(), MPI_FLOAT, MPI_COMM_WORLD),
        "MPI_Allgatherv");
}

}  // namespace

void allreduce_sum(Tensor& x) {
  if (world_size == 1 || x.numel() == 0) return;
  if (x.device() == Device::CUDA) {
    ensure_nccl();
    cuda::nccl_allreduce_sum(x.device_data(), size_t(x.numel()));
    return;
  }
  allreduce_host(x.data(), x.numel());
}

std::vector<double> gather(const std::vector<double>& mine) {
  if (world_size == 1) return mine;
  int count = to_int(int64_t(mine.size()), "gather");
  std::vector<int> counts(world_size), displs(world_size);
  check(MPI_Gather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Gather");
  std::vector<double> all;
  if (my_rank == 0) {
    int64_t total = 0;
    for (int r = 0; r < world_size; ++r) {
      displs[r] = to_int(total, "gather");
      total += counts[r];
    }
    all.resize(size_t(total));
  }
  check(MPI_Gatherv(mine.data(), count, MPI_DOUBLE, all.data(), counts.data(), displs.data(), MPI_DOUBLE, 0, MPI_COMM_WORLD),
        "MPI_Gatherv");
  return all;
}

Tensor gather_rows(const Tensor& mine) {
  if (world_size == 1) return mine;
  const Tensor host = mine.to(Device::CPU);
  const int64_t rows = host.ndim() ? host.dim(0) : 0, row = rows ? host.numel() / rows : 0;
  const std::vector<double> sizes = gather({double(rows), double(row)});  // per rank: rows, floats per row
  std::vector<int> counts(world_size), displs(world_size);
  Tensor all;
  if (my_rank == 0) {
    int64_t total = 0, width = 0;
    for (int r = 0; r < world_size; ++r) {
      const int64_t n = int64_t(sizes[2 * r]), w = int64_t(sizes[2 * r + 1]);
      if (n > 0 && width == 0) width = w;
      if (n > 0 && w != width) throw std::runtime_error("gather_rows: the ranks' rows differ in size");
    }
    for (int r = 0; r < world_size; ++r) {
      const int64_t n = int64_t(sizes[2 * r]);
      counts[r] = to_int(n * width, "gather");
      displs[r] = to_int(total * width, "gather");
      total += n;
    }
    Shape shape = host.shape();
    shape[0] = total;
    all = Tensor::empty(shape);
  }
  check(MPI_Gatherv(host.numel() ? host.data() : nullptr, to_int(host.numel(), "gather"), MPI_FLOAT,
                    my_rank == 0 ? all.data() : nullptr, counts.data(), displs.data(), MPI_FLOAT, 0, MPI_COMM_WORLD),
        "MPI_Gatherv");
  return all;
}

}  // namespace fm::dist
