// dist/single.cpp: dist/dist.h in a build without MPI (-Dmpi=disabled, or no Open MPI found): one
// process, rank 0 of 1, every collective the identity. Started by mpirun it refuses to run, since N
// copies of the same single-process job would each write the same files.
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "dist/dist.h"

namespace fm::dist {

void init(int*, char***) {
  if (launched_by_mpirun())
    throw std::runtime_error("started by mpirun, but this fm was built without MPI (install libopenmpi-dev and "
                             "reconfigure with -Dmpi=enabled)");
}
void finalize() {}
void abort(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  std::exit(code);
}
int rank() { return 0; }
int size() { return 1; }
std::string describe() { return "not built (-Dmpi=disabled, or Open MPI not found at configure time)"; }
void bind_device(Device) {}

void allreduce_sum(Tensor&) {}
std::vector<double> gather(const std::vector<double>& mine) { return mine; }
Tensor gather_rows(const Tensor& mine) { return mine; }

}  // namespace fm::dist
