// Scheduler, host half: turns a disjoint slice list into the kernels' work lists (params.h).
// Pure host code, unit-testable on the CPU.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/cuda/ffa/params.h"
#include "magi/mask.h"

namespace magi::cuda {

struct WorkList {
  std::vector<FfaWorkItem> items;  // longest first
  std::vector<FfaSegment> segs;
  bool disjoint_blocks = true;  // no row (forward) / key (backward) in two items' blocks
};

/// Forward: items own disjoint, contiguous blocks of at most `block_m` query rows covering
/// [0, total_q) (items without segments included: their rows get out = 0, lse = -inf). A
/// block ends early at a slice's row start or end at least block_m / 8 rows into it, so that
/// slices' rows start blocks of their own. `slices` must be disjoint.
WorkList build_fwd_work(std::span<const AttnSlice> slices, int64_t total_q, int block_m);

/// Backward: items of at most `block_n` keys, [block_start, block_end) = the keys their
/// segments cover. A slice with >= block_m rows and >= block_n keys gets blocks of its own
/// aligned to its k range start; smaller slices share globally aligned blocks. Items may
/// overlap in keys (dK / dV are then added atomically; disjoint_blocks says whether any do).
WorkList build_bwd_work(std::span<const AttnSlice> slices, int64_t total_k, int block_n,
                        int block_m);

/// The band of a slice in the kernels' form: dlo <= k - q < dhi (kNoDiagBound when free).
void slice_diagonals(const AttnSlice& s, int32_t& dlo, int32_t& dhi);

}  // namespace magi::cuda
