// flow/coupling.cpp
#include "flow/coupling.h"

#include <algorithm>
#include <map>
#include <stdexcept>

#include "tensor/host_tasks.h"

namespace fm {

Coupling parse_coupling(const std::string& name) {
  if (name == "independent") return Coupling::Independent;
  if (name == "ot") return Coupling::Ot;
  throw std::invalid_argument("must be independent or ot");
}

std::string coupling_name(Coupling c) { return c == Coupling::Ot ? "ot" : "independent"; }

std::vector<int64_t> ot_noise_order(const Tensor& x0, const Tensor& x1, const std::vector<int64_t>& groups,
                                    int64_t block, CouplingWorkspace& ws) {
  if (x0.shape() != x1.shape() || x0.ndim() < 1)
    throw std::runtime_error("ot_noise_order: noise " + shape_str(x0.shape()) + " and data " + shape_str(x1.shape()) + " differ");
  const int64_t n = x0.dim(0), d = n > 0 ? x0.numel() / n : 1;
  if (!groups.empty() && int64_t(groups.size()) != n) throw std::runtime_error("ot_noise_order: one group per row");
  if (block < 0) throw std::runtime_error("ot_noise_order: the block size must be 0 or positive");
  // Each group's rows in order, cut into blocks.
  std::map<int64_t, std::vector<int64_t>> rows_of;
  for (int64_t i = 0; i < n; ++i) rows_of[groups.empty() ? 0 : groups[size_t(i)]].push_back(i);
  size_t count = 0;
  for (const auto& [group, rows] : rows_of) {
    const size_t step = block > 0 ? size_t(block) : rows.size();
    for (size_t first = 0; first < rows.size(); first += step) {
      if (ws.blocks.size() <= count) ws.blocks.emplace_back();
      const size_t last = std::min(rows.size(), first + step);
      ws.blocks[count++].rows.assign(rows.begin() + ptrdiff_t(first), rows.begin() + ptrdiff_t(last));
    }
  }
  // Each block gathered contiguously and solved alone, in parallel; then scattered back.
  const float *noise = x0.data(), *data = x1.data();
  host_tasks(int64_t(count), [&](int64_t k) {
    CouplingWorkspace::Block& b = ws.blocks[size_t(k)];
    const int64_t m = int64_t(b.rows.size());
    b.noise.resize(size_t(m * d)), b.data.resize(size_t(m * d)), b.perm.resize(size_t(m));
    for (int64_t r = 0; r < m; ++r) {
      std::copy_n(noise + b.rows[size_t(r)] * d, d, b.noise.data() + r * d);
      std::copy_n(data + b.rows[size_t(r)] * d, d, b.data.data() + r * d);
    }
    if (m <= kExactRows) ot_pairing(b.noise.data(), b.data.data(), m, d, b.perm.data(), b.solver);
    else ot_pairing_auction(b.noise.data(), b.data.data(), m, d, kAuctionEps, b.perm.data(), b.auction);
  });
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (size_t k = 0; k < count; ++k) {
    const CouplingWorkspace::Block& b = ws.blocks[k];
    for (size_t r = 0; r < b.rows.size(); ++r) order[size_t(b.rows[r])] = b.rows[size_t(b.perm[r])];
  }
  return order;
}

}  // namespace fm
