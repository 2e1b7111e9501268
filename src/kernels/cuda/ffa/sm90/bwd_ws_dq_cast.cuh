// dQ cast of the warp-specialised Hopper backward (sm90/dq_cast.h): the dQ writer
// (bwd_ws_dq_writer.cuh) posts each query tile whose additions have completed to a queue in
// shared memory; warps 2 and 3 of the producer warpgroup, idle otherwise, take the posted
// tiles in turn, count down the counters of the (64-row block, head)s each touched, and cast
// the fp32 sum of each block they brought to zero (the L2's: just added) into the 16-bit dq.
// So the consumers never wait for a cast, and no separate pass reads the whole fp32 dQ back
// from memory. Order: the writer waits for its reductions to complete and fences the async
// proxy before posting (as before passing a deterministic turn); the queue's barriers (release
// / acquire at CTA scope) and the acq_rel count-down carry the additions on, so the warp that
// reaches zero has acquired every CTA's.
#pragma once

#include <cstdint>

#include "kernels/cuda/ffa/params.h"
#include "kernels/cuda/ffa/sm90/bwd_timeline.cuh"
#include "kernels/cuda/ffa/sm90/bwd_ws_shared_storage.cuh"
#include "kernels/cuda/ffa/sm90/dq_cast.h"
#include "kernels/cuda/ffa/sm90/pipeline.cuh"
#include "kernels/cuda/ffa/warp_mma.cuh"
#include "kernels/cuda/ptx/shared.cuh"
#include "kernels/cuda/ptx/sync.cuh"
#include "kernels/cuda/ptx/tma.cuh"
#include "kernels/cuda/ptx/wgmma.cuh"

namespace magi::cuda::sm90 {

template <class Tr>
struct BwdWsDqCast {
  using Storage = BwdWsSharedStorage<Tr>;
  static constexpr int kClosed = -1;                 // the row that ends a casting warp's loop
  static constexpr int kHalfRows = Tr::kBlockM / 2;  // what a stage buffer holds
  static_assert(Tr::kCastStageFloats == kHalfRows * Tr::kHeadDim);

  /// The writer's side (one thread): the tiles it posted (one counter: the writer has 24
  /// registers; counting down in it, or a ring's index and phase held apart, spilled).
  struct Poster {
    Storage& s;
    uint32_t posted = 0;

    /// After the writer's additions of a query tile of `head` from row c0: once they are
    /// complete, posts the tile.
    __device__ __forceinline__ void added(int head, int c0) {
      ptx::bulk_wait_group<0>();
      ptx::fence_proxy_async_global();
      post(c0, head);
    }
    /// After the CTA's last tile: one end for each casting warp.
    __device__ __forceinline__ void close() {
      post(kClosed, 0);
      post(kClosed, 0);
    }

    __device__ __forceinline__ void post(int c0, int head) {
      const uint32_t slot = posted % Tr::kCastSlots, parity = (posted / Tr::kCastSlots) & 1u;
      MAGI_BWD_CLOCK(t0);
      Barrier::at(&s.cast_empty[slot]).wait(parity ^ 1u);  // PipelineState::empty_parity
      MAGI_BWD_MARK(true, bwd_mark_post_wait(t0));
      s.cast_row[slot] = c0;
      s.cast_head[slot] = head;
      Barrier::at(&s.cast_full[slot]).arrive();
      ++posted;
    }
  };

  /// Casting warp `w` (all lanes): posted tiles w, w + 2, ...: counts down the blocks each
  /// touched and casts those it completed, until its end is posted. NOTE: the casting warps
  /// have 24 registers, and every value held across a cast spilled: the loop holds the queue's
  /// position and the halves left to cast, the rest is read again from the tile's slot (given
  /// back after the casts) and the parameters.
  __device__ static void run(const BwdParams& p, Storage& s, int w) {
    for (uint32_t n = static_cast<uint32_t>(w);; n += 2) {
      // The previous tile's slot, given back by every lane (each releases its own reads of it;
      // here, not after its casts: its index held across them spilled).
      if (n >= 2) Barrier::at(&s.cast_empty[(n - 2) % Tr::kCastSlots]).arrive();
      const uint32_t slot = n % Tr::kCastSlots;
      Barrier::at(&s.cast_full[slot]).wait((n / Tr::kCastSlots) & 1u);
      if (s.cast_row[slot] == kClosed) return;
      for (uint32_t halves = count_down(p, s, slot); halves != 0; halves &= halves - 1) {
        cast(p, s, slot, static_cast<uint32_t>(__ffs(static_cast<int>(halves)) - 1));
      }
    }
  }

  /// The halves to cast of the tile in `slot`: bits 2 i and 2 i + 1 for the first block + i
  /// (of at most two) whose count this warp brought to zero.
  __device__ __forceinline__ static uint32_t count_down(const BwdParams& p, Storage& s,
                                                        uint32_t slot) {
    uint32_t halves = 0;
    MAGI_BWD_CLOCK(t0);
    if (threadIdx.x % 32 == 0) {
      const DqBlocks b = dq_blocks<Tr::kBlockM>(s.cast_row[slot], p.total_q);
      int* left = p.dq_left + b.first * p.num_heads_q + s.cast_head[slot];
      if (ptx::atom_add_acq_rel_gpu(left, -1) == 1) halves = 3u;
      if (b.last > b.first && ptx::atom_add_acq_rel_gpu(left + p.num_heads_q, -1) == 1) {
        halves |= 12u;
      }
      MAGI_BWD_MARK(true, bwd_mark_count(t0));
    }
    // NOTE: lane 0 acquired the other CTAs' additions; the warp barrier orders the lanes'
    // accesses after it (one thread's acquire, then a barrier: as a CTA-wide semaphore).
    __syncwarp();
    return __shfl_sync(0xffffffffu, halves, 0);
  }

  /// Half u % 2 of block u / 2 of the tile in `slot` (its rows below total_q), of the tile's
  /// head, into dq_store: bulk-loaded into the warp's stage buffer (24 registers are too few
  /// for loads in flight of the warp's own), then cast. A half past total_q completes its phase
  /// without bytes, so the barrier's phases alternate within every block: a first half's is 0,
  /// a second's 1. The fp32 dq is the host's scratch, head-major (dq_row_stride = D): a half
  /// is contiguous, and just added, in the L2.
  __device__ static void cast(const BwdParams& p, Storage& s, uint32_t slot, uint32_t u) {
#ifdef MAGI_FFA_BWD_CAST_SKIP  // probe: the count-downs without the casts (results kept)
    if (threadIdx.x % 32 == 0) {
      *reinterpret_cast<volatile uint32_t*>(s.cast_stage[threadIdx.x / 32 - 2]) = u;
    }
    if (MAGI_FFA_BWD_CAST_SKIP) return;
#endif
    const int r0 = (s.cast_row[slot] / Tr::kBlockM + static_cast<int>(u / 2)) * Tr::kBlockM +
                   static_cast<int>(u % 2) * kHalfRows;
    const int head = s.cast_head[slot];
    const int w = static_cast<int>(threadIdx.x / 32) - 2, lane = static_cast<int>(threadIdx.x % 32);
    const Barrier landed = Barrier::at(&s.cast_landed[w]);
    const uint32_t stage = ptx::cvta_to_shared(s.cast_stage[w]);
    const int floats = max(0, min(kHalfRows, p.total_q - r0)) * Tr::kHeadDim;
    MAGI_BWD_CLOCK(t0);
    if (lane == 0) {
      if (floats == 0) {
        landed.arrive();
      } else {
        // NOTE: the bulk load (async proxy) after the count-down's acquire (generic proxy;
        // as after taking a deterministic turn), and its writes to the buffer after this warp's
        // generic reads of the last half.
        ptx::fence_proxy_async_global();
        ptx::fence_proxy_async_shared();
        landed.arrive_expect_bytes(static_cast<uint32_t>(4 * floats));
        ptx::bulk_load(stage, p.dq + head * p.dq_head_stride + int64_t{r0} * Tr::kHeadDim,
                       static_cast<uint32_t>(4 * floats), landed.addr);
      }
    }
    landed.wait(u % 2);
#pragma unroll 1
    for (int e = 4 * lane; e < floats; e += 128) {
      const float4 x = ptx::ld_shared_f32x4(stage + 4 * static_cast<uint32_t>(e));
      *reinterpret_cast<uint2*>(static_cast<typename Tr::T*>(p.dq_store) +
                                (r0 + e / Tr::kHeadDim) * p.dq_store_row_stride +
                                head * p.dq_store_head_stride + e % Tr::kHeadDim) =
          make_uint2(pack2<Tr::kElem>(x.x, x.y), pack2<Tr::kElem>(x.z, x.w));
    }
    __syncwarp();
    MAGI_BWD_MARK(lane == 0, bwd_mark_cast(t0));
  }
};

}  // namespace magi::cuda::sm90
