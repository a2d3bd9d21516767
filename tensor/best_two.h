// tensor/best_two.h: the inner loop of the auction assignment (flow/auction.cpp), a host kernel for
// the layers above, like host_tasks.h: over the n columns of a d x n matrix X (row stride ldx),
//     value_j = sum_k a_k X[k][j] - q_j,
// the largest value, the lowest column attaining it, and the second largest value (over the other
// columns: equal to the largest when two columns tie for it; -infinity when n = 1). Each value is
// the chain v = b_j, then v = fma(a_k, X[k][j], v) for k = 0 .. d-1, in every implementation, so
// the AVX-512 kernel and the portable loop give the same bits. The inputs must be finite.
#pragma once
#include <cstdint>

namespace fm {

struct BestTwo {
  float best, second;
  int64_t index;
};

BestTwo best_two(const float* a, const float* x, int64_t ldx, const float* b, int64_t n, int64_t d);

// Tests only: force the portable loop (1), the AVX-512 kernel where the CPU has it (0), or
// leave the choice to the CPU (-1, the default).
void best_two_force_portable(int mode);

}  // namespace fm
