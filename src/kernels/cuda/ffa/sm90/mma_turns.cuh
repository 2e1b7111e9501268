// Ping-pong of the two consumer warpgroups on the tensor cores (named barriers): a warpgroup
// issues its GEMMs only in its turn and hands the turn over once they are issued, so one
// warpgroup's softmax runs while the other's GEMMs keep the tensor cores busy.
//
// Contract: both warpgroups take the same number of turns per tile (they walk the same key
// tiles), so the hand-overs pair up across tiles and the turn after the last one of a tile is
// the first one of the next.
#pragma once

#include <cstdint>

#include "kernels/cuda/ffa/sm90/fwd_traits.cuh"
#include "kernels/cuda/ptx/warpgroup.cuh"

namespace magi::cuda::sm90 {

struct MmaTurns {
  int wg;  // consumer warpgroup, 0 or 1

  static constexpr uint32_t kThreads = 2 * 128;  // the waiting and the handing warpgroup

  __device__ __forceinline__ static uint32_t id(int w) {
    return static_cast<uint32_t>(w == 0 ? FwdBarrier::kMmaTurnWg0 : FwdBarrier::kMmaTurnWg1);
  }
  /// Once per kernel: warpgroup 0 has the first turn.
  __device__ __forceinline__ void start() const {
    if (wg == 1) ptx::named_barrier_arrive(id(0), kThreads);
  }
  /// Waits for this warpgroup's turn.
  __device__ __forceinline__ void acquire() const { ptx::named_barrier_sync(id(wg), kThreads); }
  /// Gives the turn to the other warpgroup.
  __device__ __forceinline__ void release() const {
    ptx::named_barrier_arrive(id(wg ^ 1), kThreads);
  }
};

}  // namespace magi::cuda::sm90
