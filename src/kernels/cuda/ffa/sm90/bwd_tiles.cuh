// The walk of a backward CTA over its tiles, shared by its roles (producer, consumers, dQ
// writer): each takes the same sequence, so no tile index crosses shared memory.
#pragma once

#include <cstdint>

#include "kernels/cuda/ffa/params.h"
#include "kernels/cuda/ffa/sm90/tile_scheduler.h"
#include "kernels/cuda/ptx/timer.cuh"

namespace magi::cuda::sm90 {

struct BwdTile {
  int32_t item_index;  // in the work list
  FfaWorkItem item;    // a key block with at least one segment
  int32_t head;        // its first query head (of BwdParams::pack_heads walked in turn)
};

/// fn(BwdTile) for each tile of this CTA, in the scheduler's order or the plan's
/// (BwdParams::plan_start); items without segments are skipped (by every role alike). Tiles are
/// numbered over num_heads_q / pack_heads heads (the kv heads, when a tile walks a kv head's
/// query heads).
template <class Fn>
__device__ __forceinline__ void for_each_bwd_tile(const TileScheduler& sched, const BwdParams& p,
                                                  Fn&& fn) {
#if MAGI_FFA_BWD_CTA_BY_SM
  // Development probe of the placement (bench/NOTES.md v55): a full grid's CTA runs the list of
  // its SM, whatever order the CTAs were placed in (%smid is below the grid on the H100 / H200
  // at one CTA per SM; not a shipped mode).
  const int32_t cta = static_cast<int32_t>(gridDim.x >= 132 ? ptx::smid() : blockIdx.x);
#else
  const int32_t cta = static_cast<int32_t>(blockIdx.x);
#endif
  for (int32_t round = 0;; ++round) {
    int32_t tile;
    if (p.plan_start != nullptr) {
      const int32_t at = p.plan_start[cta] + round;
      tile = at < p.plan_start[cta + 1] ? p.plan_tiles[at] : -1;
    } else {
      tile = sched.tile(cta, round);
    }
    if (tile < 0) return;
    const int32_t index = sched.item_of(tile);
    const FfaWorkItem item = p.items[index];
    if (item.seg_begin == item.seg_end) continue;
#if MAGI_FFA_BWD_PACK_HEADS
    fn(BwdTile{index, item, sched.head_of(tile) * p.pack_heads});
#else
    fn(BwdTile{index, item, sched.head_of(tile)});
#endif
  }
}

/// fn(key0) for the passes of `item` over its keys, Tr::kPassKeys from key0 at a time (one pass
/// when Tr::kPasses is 1, known at compile time: a loop there costs the producer, with its 24
/// registers, a spill): every role walks the same passes, and the query tiles once per pass.
template <class Tr, class Fn>
__device__ __forceinline__ void for_each_key_pass(const FfaWorkItem& item, Fn&& fn) {
  if constexpr (Tr::kPasses == 1) {
    fn(item.block_start);
  } else {
    for (int key0 = item.block_start; key0 < item.block_end; key0 += Tr::kPassKeys) fn(key0);
  }
}

/// fn(c0) for each walk over an item's query tiles that Tr::kDPasses asks for (bwd_ws_traits.cuh:
/// D passes), c0 the first of the walk's Tr::kGradCols columns of dK / dV / dQ. One walk from
/// column 0 unless D passes are on (a compile-time count: no loop for the producer's 24
/// registers to hold).
template <class Tr, class Fn>
__device__ __forceinline__ void for_each_d_pass(Fn&& fn) {
  if constexpr (Tr::kDPasses == 1) {
    fn(0);
  } else {
#pragma unroll 1
    for (int c0 = 0; c0 < Tr::kHeadDim; c0 += Tr::kGradCols) fn(c0);
  }
}

/// The number of passes for_each_key_pass makes over `item` (an item with segments has keys).
template <class Tr>
__device__ __forceinline__ int key_passes(const FfaWorkItem& item) {
  if constexpr (Tr::kPasses == 1) {
    return 1;
  } else {
    return (item.block_end - item.block_start + Tr::kPassKeys - 1) / Tr::kPassKeys;
  }
}

}  // namespace magi::cuda::sm90
