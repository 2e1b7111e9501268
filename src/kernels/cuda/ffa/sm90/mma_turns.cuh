// Ping-pong of the consumer warpgroups on the tensor cores (named barriers): a warpgroup issues
// its GEMMs only in its turn and hands the turn to the next one (in a ring) once they are
// issued, so one warpgroup's softmax runs while the others' GEMMs keep the tensor cores busy.
//
// Contract: every warpgroup takes the same number of turns per tile (they walk the same key
// tiles), so the hand-overs pair up across tiles and the turn after the last one of a tile is
// the first one of the next.
#pragma once

#include <cstdint>

#include "kernels/cuda/ffa/sm90/fwd_traits.cuh"
#include "kernels/cuda/ptx/warpgroup.cuh"

namespace magi::cuda::sm90 {

template <int kWarpGroups>
struct MmaTurns {
  int wg;  // consumer warpgroup, 0 .. kWarpGroups - 1

  static constexpr uint32_t kThreads = 2 * 128;  // the waiting and the handing warpgroup

  __device__ __forceinline__ static uint32_t id(int w) {
    return static_cast<uint32_t>(FwdBarrier::kMmaTurn) + static_cast<uint32_t>(w);
  }
  /// Once per kernel: warpgroup 0 has the first turn (handed by the last one).
  __device__ __forceinline__ void start() const {
    if (wg == kWarpGroups - 1) ptx::named_barrier_arrive(id(0), kThreads);
  }
  /// Waits for this warpgroup's turn.
  __device__ __forceinline__ void acquire() const { ptx::named_barrier_sync(id(wg), kThreads); }
  /// Gives the turn to the next warpgroup.
  __device__ __forceinline__ void release() const {
    ptx::named_barrier_arrive(id(wg + 1 == kWarpGroups ? 0 : wg + 1), kThreads);
  }
};

}  // namespace magi::cuda::sm90
