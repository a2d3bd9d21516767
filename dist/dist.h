// dist/dist.h: the processes of one run, for data-parallel training and evaluation.
//
// Under `mpirun -np N fm ...` every process is one rank of MPI_COMM_WORLD; started on its own, a
// process is rank 0 of 1 and every collective below is the identity, so the code above never
// needs two paths. A build without MPI (-Dmpi=disabled, dist/single.cpp) is always rank 0 of 1 and
// refuses to run under mpirun rather than run N copies of the same job.
//
// The collectives block until every rank has called them, in the same order with the same sizes:
// all ranks must take the same path through a run (the trainer's checks come after the all-reduce,
// so that a NaN stops every rank at the same step).
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace fm::dist {

// Joins the run when started by mpirun (MPI_Init), else does nothing. Call first thing in main.
// Throws when mpirun started a binary built without MPI.
void init(int* argc, char*** argv);
// Leaves the run (MPI_Finalize); every rank calls it after its last collective.
void finalize();
// Ends every rank of the run at once with exit status `code` (MPI_Abort): what a rank does on an
// error that the others may not share, so none of them waits forever in a collective.
[[noreturn]] void abort(int code);

// An error that every rank raises at the same point, because a collective told them all (a NaN in
// the all-reduced loss): `fm` reports it once, from rank 0, and every rank leaves MPI normally.
// Any other error may be one rank's alone, and aborts the run (abort above).
struct CollectiveError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

int rank();   // 0 .. size() - 1
int size();   // the number of processes
inline bool is_root() { return rank() == 0; }
// Whether mpirun (Open MPI, or a PMI launcher) started this process: it says so in the
// environment of every process it starts.
bool launched_by_mpirun();
// One line for `fm --version`: "MPI built (Open MPI v4.1.4); rank 0 of 2", or why not.
std::string describe();
// With several ranks on CUDA, one GPU per process: local rank i uses device i, and a host with
// fewer GPUs than ranks is refused in one line. Call before the first CUDA call that makes state
// (the commands do, after --device).
void bind_device(Device device);

// x[i] = sum over ranks of x[i], in place, with every rank receiving the same bits. Host tensors
// go through MPI and are summed in rank order (0 + 1 + ... + N-1 for every element, whatever the
// transport), so a run repeats bit for bit; CUDA tensors go through NCCL on their device memory.
void allreduce_sum(Tensor& x);
// On the root: the concatenation of every rank's `mine`, in rank order; elsewhere: empty.
std::vector<double> gather(const std::vector<double>& mine);
// On the root: every rank's rows concatenated in rank order along the leading axis (host tensors,
// equal trailing shape); elsewhere: an undefined Tensor.
Tensor gather_rows(const Tensor& mine);

// The rank-order sum that allreduce_sum performs, on one element range: out[i] = parts[0][i] +
// parts[1][i] + ... + parts[N-1][i], left to right. Exposed for the tests.
void sum_in_rank_order(float* out, const std::vector<const float*>& parts, int64_t n);

// ---- evaluations split by chunks ---------------------------------------------------------------
// An evaluation that solves its samples chunk by chunk (fm nll, fm sample) deals the chunks round
// robin: chunk c is rank c mod N's, and each chunk is solved exactly as one process solves it, so
// the results are the one-process results whatever N is.
inline bool owns_chunk(int64_t c) { return c % size() == rank(); }
// On the root: the values of every chunk in chunk order, from each rank's `mine` (the values of
// its own chunks, in order; chunk c has counts[c] values, a list every rank knows); elsewhere:
// empty.
std::vector<double> gather_chunks(const std::vector<double>& mine, const std::vector<int64_t>& counts);
// The same for rows of a host tensor: chunk c has counts[c] rows.
Tensor gather_chunk_rows(const Tensor& mine, const std::vector<int64_t>& counts);

// The rows [first, first + count) of rank `r` when `total` rows are split over `n` ranks as evenly
// as possible (the first total % n ranks get one row more).
struct RowRange {
  int64_t first, count;
};
RowRange split_rows(int64_t total, int r, int n);

}  // namespace fm::dist
