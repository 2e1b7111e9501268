// Whether the default mode's Hopper backward should plan its tiles in key order: on the
// deterministic mode's list (global key blocks in its turns' order, work_list.h: add_row_turns)
// in chunks of one tile, head-major, without its turns, instead of on the default list (longest
// item first) in chunks of two grids (bench/NOTES.md v60). Host only.
#pragma once

#include <cstdint>

#include "kernels/cuda/ffa/sm90/tile_plan.h"

namespace magi::cuda::sm90 {

/// The default list's walks (`walks` query tiles summed over its `walking` items that walk) and
/// one query head's rows (`rows` of `row_bytes`: Q, dO, the fp32 dQ, lse and D) against the
/// L2. The default plan's chunks mix documents, so where a head's rows take more than half the
/// L2 a document's rows leave it between the document's tiles; in key order the CTAs at work
/// walk neighbouring key blocks and share their rows. On an H100 (v60, 64:8 hd 128, 34 MB of rows
/// a head at 32k): 32k varlen_causal 1.06-1.18x in four runs (L2 hit 76 % against 70 %), 32k
/// swa_causal 1.00x, varlen_block_causal 0.99-1.02x; at 8k (8.5 MB) varlen_block_causal
/// 0.87-0.92x (the one-tile chunks' tail) and at 16k (17 MB, v61) varlen_causal and
/// varlen_block_causal 0.94x, hence the L2 test: the threshold lies between 17 and 34 MB, where
/// half the H100's L2 (25 MB) falls. Only where the default plan would not cut its tiles
/// (a mean walk under kCutMinWalk): full and causal 32k lost 2 % without their cuts.
inline bool key_order_pays(int64_t walks, int64_t walking, int64_t rows, int64_t row_bytes,
                           int64_t l2_bytes) {
  return walking > 0 && walks < int64_t{kCutMinWalk} * walking && 2 * rows * row_bytes > l2_bytes;
}

}  // namespace magi::cuda::sm90
