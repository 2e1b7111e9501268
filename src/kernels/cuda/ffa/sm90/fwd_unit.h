// The entries of a forward tile plan (fwd_plan.h) as the kernel reads them, and the layout of
// the workspace in which the pieces of a cut tile meet (fwd_split.cuh). Host and device.
#pragma once

#include <cstdint>

#include "kernels/cuda/host_device.h"

namespace magi::cuda::sm90 {

/// One entry of a CTA's list; every role of the CTA reads the same entries.
struct FwdUnit {
  int32_t tile;   // item * num_heads + head (tile_scheduler.h's numbering); -1 ends a CTA's list
  int32_t first;  // first key tile of the item's walk (segment_tiles.h)
  int32_t count;  // key tiles from `first` (0: an item without keys)
  int32_t split;  // -1: the whole tile; else a piece of a cut tile: its workspace slot
};

/// A cut tile: its pieces, in key order, are workspace slots base .. base + pieces - 1.
struct FwdCut {
  int32_t tile, base, pieces;
};

/// The workspace of a plan's pieces (fwd_split.cuh) for a kernel of `block_m` rows at
/// `head_dim`: per (piece, consumer warp of 16 rows) the warp's state, head_dim / 8 + 1 float4
/// per lane.
MAGI_HD constexpr int64_t fwd_split_slot_floats(int head_dim) {
  return int64_t{head_dim / 8 + 1} * 4 * 32;
}
MAGI_HD constexpr int64_t fwd_split_bytes(int64_t pieces, int block_m, int head_dim) {
  return pieces * (block_m / 16) * fwd_split_slot_floats(head_dim) * 4;
}

}  // namespace magi::cuda::sm90
