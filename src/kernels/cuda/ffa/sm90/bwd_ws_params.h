// Kernel parameters of the warp-specialised Hopper backward kernel: the portable parameters,
// the TMA tensor maps and the persistent schedule.
#pragma once

#include <cuda.h>

#include "kernels/cuda/ffa/params.h"
#include "kernels/cuda/ffa/sm90/segment_tiles.h"
#include "kernels/cuda/ffa/sm90/tile_scheduler.h"

namespace magi::cuda::sm90 {

struct BwdParamsSm90 {
  // [D, heads, rows] views of q and dout [Sq, Hq, D] (boxes 64 x 1 x 64 rows) and of k, v
  // [Sk, Hkv, D] (boxes 64 x 1 x 128 keys), 128-byte swizzle; [rows, heads, 1] views of the
  // head-major fp32 lse2 and dsum [Hq, stat_stride] (boxes of kStatRows x 1 x 1).
  CUtensorMap tma_q, tma_do, tma_k, tma_v, tma_lse2, tma_dsum;
  // A [D, heads, rows] fp32 view of dq (boxes 32 x 1 x 64, 128-byte
  // swizzle) for the writer warp's reductions.
  CUtensorMap tma_dq;
  BwdParams p;
  TileScheduler sched;
  // Development knob MAGI_FFA_BWD_ROTATE=1 (never in the deterministic mode, whose turns
  // follow the unrotated walk): each tile's row walk starts at its tile number.
  int rotate_walk;
};

/// The query tiles of `item` as the producer, the consumers and the dQ writer all walk them.
template <int kBlockM>
__device__ __forceinline__ RowTiles<kBlockM> bwd_row_walk(const BwdParamsSm90& P,
                                                         const FfaWorkItem& item, int tile) {
  return RowTiles<kBlockM>(P.p.segs, item, P.p.deterministic != 0, P.rotate_walk ? tile : -1);
}

}  // namespace magi::cuda::sm90
