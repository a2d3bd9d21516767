// flow/coupling.cpp
#include "flow/coupling.h"

#include <algorithm>
#include <map>
#include <stdexcept>

namespace fm {

Coupling parse_coupling(const std::string& name) {
  if (name == "independent") return Coupling::Independent;
  if (name == "ot") return Coupling::Ot;
  throw std::invalid_argument("must be independent or ot");
}

std::string coupling_name(Coupling c) { return c == Coupling::Ot ? "ot" : "independent"; }

std::vector<int64_t> ot_noise_order(const Tensor& x0, const Tensor& x1, const std::vector<int64_t>& groups,
                                    int64_t block, AssignmentWorkspace& ws) {
  if (x0.shape() != x1.shape() || x0.ndim() < 1)
    throw std::runtime_error("ot_noise_order: noise " + shape_str(x0.shape()) + " and data " + shape_str(x1.shape()) + " differ");
  const int64_t n = x0.dim(0), d = n > 0 ? x0.numel() / n : 1;
  if (!groups.empty() && int64_t(groups.size()) != n) throw std::runtime_error("ot_noise_order: one group per row");
  if (block < 0) throw std::runtime_error("ot_noise_order: the block size must be 0 or positive");
  // Each group's rows in order, cut into blocks; each block gathered contiguously, solved alone and
  // scattered back.
  std::map<int64_t, std::vector<int64_t>> rows_of;
  for (int64_t i = 0; i < n; ++i) rows_of[groups.empty() ? 0 : groups[size_t(i)]].push_back(i);
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::vector<float> a, b;
  std::vector<int32_t> perm;
  for (const auto& [group, rows] : rows_of) {
    const int64_t count = int64_t(rows.size()), step = block > 0 ? block : count;
    for (int64_t first = 0; first < count; first += step) {
      const int64_t m = std::min(step, count - first);
      const int64_t* r = rows.data() + first;
      a.resize(size_t(m * d)), b.resize(size_t(m * d)), perm.resize(size_t(m));
      for (int64_t k = 0; k < m; ++k) {
        std::copy_n(x0.data() + r[k] * d, d, a.data() + k * d);
        std::copy_n(x1.data() + r[k] * d, d, b.data() + k * d);
      }
      ot_pairing(a.data(), b.data(), m, d, perm.data(), ws);
      for (int64_t k = 0; k < m; ++k) order[size_t(r[k])] = r[perm[size_t(k)]];
    }
  }
  return order;
}

}  // namespace fm
