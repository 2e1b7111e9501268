// The cut tiles of the Hopper backward as the host and the kernels share them (bwd_cut.cuh,
// tile_plan.h: TileCuts).
#pragma once

#include <cstdint>

#include "kernels/cuda/host_device.h"

namespace magi::cuda::sm90 {

/// A cut tile: its work item (in the list's numbering) and query head, and its first piece
/// (the second is piece + 1). Piece p is work item num_items + p of the plan's list and slot p
/// of the partials.
struct BwdCut {
  int32_t item, head, piece;
};

/// Where (piece, warp)'s block of the partials begins, in float4: per piece `warps` consumer
/// warps (16 keys each), per warp the dK then the dV accumulators of dno = head_dim / 8 column
/// blocks, 32 lanes' float4 per block (bwd_cut.cuh: bwd_cut_slot).
MAGI_HD constexpr int64_t bwd_cut_block(int dno, int warps, int32_t piece, int warp) {
  return (int64_t{piece} * warps + warp) * 2 * dno * 32;
}

/// Floats of one piece's slot (the host's workspace: ffa_cuda.cc).
MAGI_HD constexpr int64_t bwd_cut_slot_floats(int head_dim, int warps) {
  return 4 * bwd_cut_block(head_dim / 8, warps, 1, 0);
}

}  // namespace magi::cuda::sm90
