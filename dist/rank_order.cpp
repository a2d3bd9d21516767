// dist/rank_order.cpp: what every build of dist/ shares: the launcher check, the rank-order sum,
// the chunk gathers and the row split.
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "dist/dist.h"
#include "tensor/cpu/parallel.h"

namespace fm::dist {

bool launched_by_mpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

// Left to right for every element, so the bits depend on the ranks' values and their order only.
void sum_in_rank_order(float* out, const std::vector<const float*>& parts, int64_t n) {
  if (parts.empty()) throw std::runtime_error("sum_in_rank_order: no parts");
  parallel_for(n, grain_for(1), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      float s = parts[0][i];
      for (size_t r = 1; r < parts.size(); ++r) s += parts[r][i];
      out[i] = s;
    }
  });
}

namespace {

// For each chunk, where its block starts in the gathered order (rank 0's chunks 0, N, 2N, ...,
// then rank 1's, ...), in units of `counts`.
std::vector<int64_t> gathered_offsets(const std::vector<int64_t>& counts) {
  const int n = size();
  std::vector<int64_t> at(counts.size());
  int64_t pos = 0;
  for (int q = 0; q < n; ++q)
    for (size_t c = size_t(q); c < counts.size(); c += size_t(n)) {
      at[c] = pos;
      pos += counts[c];
    }
  return at;
}

}  // namespace

std::vector<double> gather_chunks(const std::vector<double>& mine, const std::vector<int64_t>& counts) {
  const std::vector<double> all = gather(mine);
  if (!is_root() || size() == 1) return all;
  const std::vector<int64_t> at = gathered_offsets(counts);
  std::vector<double> out;
  for (size_t c = 0; c < counts.size(); ++c) out.insert(out.end(), all.begin() + at[c], all.begin() + at[c] + counts[c]);
  return out;
}

Tensor gather_chunk_rows(const Tensor& mine, const std::vector<int64_t>& counts) {
  const Tensor all = gather_rows(mine);
  if (!is_root() || size() == 1) return all;
  const std::vector<int64_t> at = gathered_offsets(counts);
  Tensor out = Tensor::empty(all.shape());
  int64_t row = 0;
  for (size_t c = 0; c < counts.size(); ++c) {
    out.rows(row, row + counts[c]).copy_from(all.rows(at[c], at[c] + counts[c]));
    row += counts[c];
  }
  return out;
}

RowRange split_rows(int64_t total, int r, int n) {
  if (n < 1 || r < 0 || r >= n || total < 0)
    throw std::runtime_error("split_rows: rank " + std::to_string(r) + " of " + std::to_string(n));
  const int64_t base = total / n, extra = total % n;
  return {r * base + std::min<int64_t>(r, extra), base + (r < extra ? 1 : 0)};
}

}  // namespace fm::dist
