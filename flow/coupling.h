// flow/coupling.h: how a training batch pairs noise with data (fm train --coupling).
//
// Independent coupling (the paper's) draws x0 ~ N(0, I) for each data point x1 on its own.
// Minibatch OT coupling (Tong et al. 2023, "OT-CFM"; Pooladian et al. 2023) re-pairs the batch's
// noise with its data by an exact optimal assignment under squared Euclidean cost,
//     sigma* = argmin over permutations sigma of  sum_i || x0_sigma(i) - x1_i ||^2,
// a true permutation (flow/assignment.h), so no noise point is used twice or dropped, unlike
// sampling the OT plan with replacement. The pairs' straight paths then cross less, which makes the
// learned field straighter: fewer solver steps for the same samples.
//
// With classes (a conditional model) the assignment stays within each training label: rows with
// label y are paired only among themselves, and so are the rows whose label was dropped to "no
// class" (the unconditional field's own OT). Pairing across classes would hand a class's noise
// region to data of another class, so the conditional field would have to undo the coupling (the
// C2OT paper measures the harm).
//
// Blocks. The exact assignment costs O(B^3) at worst, and on Gaussian noise against 2-D data the
// late searches do reach most columns: 0.85-2 s for B = 2048 on one core, 25 or more steps of the
// main job. So a large batch is solved in blocks of --ot-block rows, in parallel: the batch's rows
// come in random order, so each block is an independent minibatch. Blocks of up to 256 rows are
// solved exactly; a larger block (--ot-block 0: the whole batch) by the auction (flow/auction.h),
// within a factor 1.01 of its optimum (measured: 1.0012), in 6-10 ms for 2,048 points. The README
// has what each costs a step of the main job and the quality each buys. Images (batch 64) are
// solved whole.
#pragma once
#include <string>
#include <vector>

#include "flow/assignment.h"
#include "flow/auction.h"
#include "tensor/tensor.h"

namespace fm {

// Blocks of up to kExactRows rows are solved exactly (Jonker-Volgenant, flow/assignment.h); larger
// ones by the auction (flow/auction.h), whose pairing costs at most 1 + kAuctionEps times the
// optimum.
inline constexpr int64_t kExactRows = 256;
inline constexpr double kAuctionEps = 1e-2;

// The coupling named by --coupling: "independent" or "ot"; throws std::invalid_argument otherwise.
enum class Coupling { Independent, Ot };
Coupling parse_coupling(const std::string& name);
std::string coupling_name(Coupling c);

// Scratch of ot_noise_order, one slot per block, reused between calls: the blocks' buffers and
// cost matrices are allocated once at a batch size (the row lists and the returned order are small).
struct CouplingWorkspace {
  struct Block {
    std::vector<int64_t> rows;  // the batch rows of this block
    std::vector<float> noise, data;
    std::vector<int32_t> perm;
    AssignmentWorkspace solver;
    AuctionWorkspace auction;
  };
  std::vector<Block> blocks;
};

// The order of the noise rows for the data rows: row order[i] of x0 (host, [B, ...]) is paired with
// row i of x1 (host, same shape). `groups` (empty, or one integer per row) restricts the pairing to
// rows of equal group. Each group is cut, in row order, into blocks of at most `block` rows (0: no
// limit) and each block is solved exactly (flow/assignment.h); the blocks run in parallel, and the
// result does not depend on the number of threads.
std::vector<int64_t> ot_noise_order(const Tensor& x0, const Tensor& x1, const std::vector<int64_t>& groups,
                                    int64_t block, CouplingWorkspace& ws);

}  // namespace fm
