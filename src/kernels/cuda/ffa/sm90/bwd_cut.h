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

/// Floats of one piece's slot: per consumer warp (16 keys each), per lane, its dK then its dV
/// accumulators of `head_dim` columns, head_dim / 8 float4 each.
MAGI_HD constexpr int64_t bwd_cut_slot_floats(int head_dim, int warps) {
  return int64_t{warps} * 2 * (head_dim / 8) * 4 * 32;
}

}  // namespace magi::cuda::sm90
