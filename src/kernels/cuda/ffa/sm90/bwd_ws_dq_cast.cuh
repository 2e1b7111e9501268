// dQ cast of the warp-specialised Hopper backward (sm90/dq_cast.h). The dQ writer
// (bwd_ws_dq_writer.cuh) posts each query tile to a queue in shared memory once its additions
// are complete. Warp 2 of the producer warpgroup, idle otherwise, takes the posted tiles in
// batches (lane j tile j: the count-downs' round trips to the L2 overlap), counts down the
// counters of the (64-row block, head)s they touched, and pushes each block it brought to zero
// to a queue in global memory. Warp 3 of every CTA claims the next entry of that queue (a
// ticket), waits for it to be pushed, and casts the block's fp32 sum (the L2's: just added)
// into the 16-bit dq. So the consumers never wait for a cast, no separate pass reads the whole
// fp32 dQ back, and the casts are spread over all CTAs: in the form of v57 each CTA cast the
// blocks it completed, and with a full mask one CTA completed half of the heads' blocks
// (bench/NOTES.md v58). Order: the writer fences the async proxy after its additions complete
// and before posting; the shared queue's barriers (release / acquire at CTA scope), the acq_rel
// count-down and the push (release) / poll (then an acquire fence) carry the additions on to
// the casting warp. NOTE: a casting warp waits for blocks other CTAs complete, so all CTAs must
// be resident at once (the grid is at most one CTA a SM, as the deterministic mode's turns
// need).
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
  static constexpr int kClosed = -1;                 // the row of the writer's last post
  static constexpr int kHalfRows = Tr::kBlockM / 2;  // what a stage buffer holds
  static_assert(Tr::kCastStageFloats == kHalfRows * Tr::kHeadDim);

  /// The writer's side (one thread): the tiles it posted (one counter: the writer has 24
  /// registers; counting down in it, or a ring's index and phase held apart, spilled).
  struct Poster {
    Storage& s;
    uint32_t posted = 0;

    /// After the writer's additions of a query tile of `head` from row c0: once they are
    /// complete, posts the tile. NOTE: the writer's wait for each tile's round trip costs
    /// nothing measurable: posting without it ran at the same rate (bench/NOTES.md v59).
    __device__ __forceinline__ void added(int head, int c0) {
      ptx::bulk_wait_group<0>();
      ptx::fence_proxy_async_global();
      post(c0, head);
    }
    /// After the CTA's last tile: warp 2's end.
    __device__ __forceinline__ void close() { post(kClosed, 0); }

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

  /// Warp 2 (all lanes): takes the posted tiles n, n + 1, ... in batches, lane j tile n + j:
  /// counts down the blocks each touched, gives its slot back and pushes the blocks it brought
  /// to zero; until the end is posted.
  __device__ static void count(const BwdParams& p, Storage& s) {
    const uint32_t lane = threadIdx.x % 32;
    for (uint32_t n = 0;;) {
      Barrier::at(&s.cast_full[n % Tr::kCastSlots]).wait((n / Tr::kCastSlots) & 1u);
      MAGI_BWD_CLOCK(t0);
      // The batch: the tiles posted from n on, each lane testing its own (an acquire when
      // posted); the writer posts in order, so the batch ends at the first not yet posted.
      const uint32_t slot = (n + lane) % Tr::kCastSlots;
      const bool posted = lane < Tr::kCastSlots &&
                          Barrier::at(&s.cast_full[slot]).done(((n + lane) / Tr::kCastSlots) & 1u);
      const uint32_t k =
          static_cast<uint32_t>(__ffs(~static_cast<int>(__ballot_sync(~0u, posted)))) - 1;
      int c0 = kClosed, head = 0;
      if (lane < k) {
        c0 = s.cast_row[slot];
        head = s.cast_head[slot];
        Barrier::at(&s.cast_empty[slot]).arrive();
      }
      if (lane < k && c0 != kClosed) {
        const uint32_t zeroed = count_down(p, c0, head);
        // NOTE: the push's release store carries the count-down's acquire (of every adder's
        // additions) on to the warp that polls the entry.
        for (int b = 0; b < 2; ++b) {
          if ((zeroed >> b) & 1u) {
            const int at = atomicAdd(&p.cast_ends[0], 1);
            ptx::st_release_gpu(p.cast_queue + at,
                                (c0 / Tr::kBlockM + b) * p.num_heads_q + head + 1);
          }
        }
      }
      MAGI_BWD_MARK(lane == 0, bwd_mark_count(t0, k));
      if (__any_sync(~0u, lane < k && c0 == kClosed)) return;
      n += k;
    }
  }

  /// Warp 3 (all lanes): claims the global queue's entries one at a time until all cast_total
  /// are claimed, waits for each to be pushed and casts its block.
  __device__ static void cast(const BwdParams& p, Storage& s) {
    const uint32_t lane = threadIdx.x % 32;
    for (uint32_t parity = 0;; parity ^= 1u) {  // the stage barriers' next phase
      int entry = 0;
      if (lane == 0) {
        const int at = atomicAdd(&p.cast_ends[1], 1);
        if (at >= p.cast_total) {
          entry = -1;
        } else {
          while ((entry = ptx::ld_relaxed_gpu(p.cast_queue + at)) == 0) ptx::nanosleep(256);
          ptx::fence_acq_rel_gpu();  // the pusher's release: the block's additions
        }
      }
      // NOTE: lane 0's acquire, then the warp's barrier (as a CTA-wide semaphore).
      entry = __shfl_sync(~0u, entry, 0);
      if (entry < 0) return;
      cast_block(p, s, entry - 1, parity);
    }
  }

  /// Counts down the blocks that the tile from row `c0` of `head` added to: bit i set for the
  /// block first + i (of at most two) that this count brought to zero. Both atomics are issued
  /// before either result is read.
  __device__ __forceinline__ static uint32_t count_down(const BwdParams& p, int c0, int head) {
    const DqBlocks b = dq_blocks<Tr::kBlockM>(c0, p.total_q);
    int* left = p.dq_left + b.first * p.num_heads_q + head;
    const bool two = b.last > b.first;
    const int first = ptx::atom_add_acq_rel_gpu(left, -1);
    const int second = two ? ptx::atom_add_acq_rel_gpu(left + p.num_heads_q, -1) : 0;
    return (first == 1 ? 1u : 0u) | (two && second == 1 ? 2u : 0u);
  }

  /// The block `todo` (block * num_heads_q + head; its rows below total_q) into dq_store: its two
  /// halves bulk-loaded into the two stage buffers (24 registers are too few for loads in flight of
  /// the warp's own), then cast. `parity`: the phase the stage barriers complete (each
  /// completes once a block; a half past total_q without bytes). The fp32 dq is the host's
  /// scratch, head-major (dq_row_stride = D): a half is contiguous, and just added, in the L2.
  __device__ static void cast_block(const BwdParams& p, Storage& s, int todo, uint32_t parity) {
    const uint32_t block = static_cast<uint32_t>(todo) / static_cast<uint32_t>(p.num_heads_q);
    const int head = todo - static_cast<int>(block) * p.num_heads_q;
    const int row0 = static_cast<int>(block) * Tr::kBlockM;
    const int lane = static_cast<int>(threadIdx.x % 32);
    MAGI_BWD_CLOCK(t0);
    if (lane == 0) {
      // NOTE: the bulk loads (async proxy) after the count-down's acquire (generic proxy; as
      // after taking a deterministic turn), and their writes to the buffers after this warp's
      // generic reads of the last block.
      ptx::fence_proxy_async_global();
      ptx::fence_proxy_async_shared();
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int r0 = row0 + h * kHalfRows;
        const int floats = max(0, min(kHalfRows, p.total_q - r0)) * Tr::kHeadDim;
        const Barrier landed = Barrier::at(&s.cast_landed[h]);
        if (floats == 0) {
          landed.arrive();
        } else {
          landed.arrive_expect_bytes(static_cast<uint32_t>(4 * floats));
          ptx::bulk_load(ptx::cvta_to_shared(s.cast_stage[h]),
                         p.dq + head * p.dq_head_stride + int64_t{r0} * Tr::kHeadDim,
                         static_cast<uint32_t>(4 * floats), landed.addr);
        }
      }
    }
    // Lane l holds columns [c, c + 4) of row l / (32 / kRowsAStep) of each step's rows.
    static_assert(128 % Tr::kHeadDim == 0);
    constexpr int kRowsAStep = 128 / Tr::kHeadDim;
    const int sub = 4 * lane / Tr::kHeadDim, c = 4 * lane % Tr::kHeadDim;
#pragma unroll 1
    for (int h = 0; h < 2; ++h) {
      const int r0 = row0 + h * kHalfRows, rows = min(kHalfRows, p.total_q - r0);
      auto* out = static_cast<typename Tr::T*>(p.dq_store) + (r0 + sub) * p.dq_store_row_stride +
                  head * p.dq_store_head_stride + c;
      uint32_t from = ptx::cvta_to_shared(s.cast_stage[h]) + 16 * static_cast<uint32_t>(lane);
      Barrier::at(&s.cast_landed[h]).wait(parity);
#pragma unroll 1
      for (int left = rows - sub; left > 0; left -= kRowsAStep) {
        const float4 x = ptx::ld_shared_f32x4(from);
        *reinterpret_cast<uint2*>(out) =
            make_uint2(pack2<Tr::kElem>(x.x, x.y), pack2<Tr::kElem>(x.z, x.w));
        out += kRowsAStep * p.dq_store_row_stride;
        from += 512;
      }
    }
    __syncwarp();
    MAGI_BWD_MARK(lane == 0, bwd_mark_cast(t0));
  }
};

}  // namespace magi::cuda::sm90
