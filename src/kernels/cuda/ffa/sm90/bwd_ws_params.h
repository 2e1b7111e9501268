// Kernel parameters of the warp-specialised Hopper backward kernel: the portable parameters,
// the TMA tensor maps and the persistent schedule.
#pragma once

#include <cuda.h>

#include "kernels/cuda/ffa/params.h"
#include "kernels/cuda/ffa/sm90/tile_scheduler.h"

namespace magi::cuda::sm90 {

struct BwdParamsSm90 {
  // [D, heads, rows] views of q [Sq, Hq, D] and k [Sk, Hkv, D], [Dv, heads, rows] views of
  // dout [Sq, Hq, Dv] and v [Sk, Hkv, Dv] (boxes 64 x 1 x 64 rows, 64 x 1 x kPassKeys keys),
  // 128-byte swizzle; [rows, heads, 1] views of the head-major fp32 lse2 and dsum
  // [Hq, stat_stride] (boxes of kStatRows x 1 x 1).
  CUtensorMap tma_q, tma_do, tma_k, tma_v, tma_lse2, tma_dsum;
  // A [D, heads, rows] fp32 view of dq (boxes 32 x 1 x 64, 128-byte
  // swizzle) for the writer warp's reductions.
  CUtensorMap tma_dq;
  BwdParams p;
  TileScheduler sched;
};

}  // namespace magi::cuda::sm90
