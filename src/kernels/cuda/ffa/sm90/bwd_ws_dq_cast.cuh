// dQ cast of the warp-specialised Hopper backward (sm90/dq_cast.h): the dQ writer
// (bwd_ws_dq_writer.cuh) posts each query tile whose additions have completed to a queue in
// shared memory; warp 2 of the producer warpgroup, idle otherwise, takes the posted tiles in
// batches (every tile posted, at most the queue's length), counts down the counters of the
// (64-row block, head)s they touched, one tile a lane, so that the count-downs' round trips to
// the L2 overlap, and casts the fp32 sum of each block it brought to zero (the L2's: just
// added) into the 16-bit dq. So the consumers never wait for a cast, and no separate pass reads
// the whole fp32 dQ back from memory. Order: the writer waits for its reductions to complete
// and fences the async proxy before posting (as before passing a deterministic turn); the
// queue's barriers (release / acquire at CTA scope) and the acq_rel count-down carry the
// additions on, so the lane that reaches zero has acquired every CTA's, and the warp's barrier
// hands that on to the lane that loads the block.
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

#ifndef MAGI_FFA_BWD_CAST_LAG
#define MAGI_FFA_BWD_CAST_LAG 2
#endif

namespace magi::cuda::sm90 {

template <class Tr>
struct BwdWsDqCast {
  using Storage = BwdWsSharedStorage<Tr>;
  static constexpr int kClosed = -1;   // the row of the writer's last post
  static constexpr int kListEnd = -1;  // the end of a batch's list of blocks to cast, or
  static constexpr int kLastEnd = -2;  // that of the batch with the writer's last post
  static constexpr int kHalfRows = Tr::kBlockM / 2;  // what a stage buffer holds
  static_assert(Tr::kCastStageFloats == kHalfRows * Tr::kHeadDim);

  /// Tiles whose additions may still be in flight when the writer's queue holds them: the
  /// writer writes a tile to the queue when it has issued its additions, and posts it (the
  /// casting warp may take it) kLag tiles later, once they are complete: waiting for each
  /// tile's own additions held the writer for their round trip to the L2 every tile (the
  /// consumers then waited for their dQ buffer; bench/NOTES.md v58).
  static constexpr int kLag = MAGI_FFA_BWD_CAST_LAG;
  static_assert(kLag >= 0 && kLag < Tr::kCastSlots);

  /// The writer's side (one thread): the tiles it wrote to the queue (one counter: the writer
  /// has 24 registers; counting down in it, or a ring's index and phase held apart, spilled).
  struct Poster {
    Storage& s;
    uint32_t written = 0;

    /// After the writer has issued the additions of a query tile of `head` from row c0 (one
    /// bulk group a part): writes it to the queue, and posts the tile kLag before it, whose
    /// additions are then complete.
    __device__ __forceinline__ void added(int head, int c0) {
      write(c0, head);
      if (written > kLag) {
        ptx::bulk_wait_group<kLag * Tr::kDqParts>();
        ptx::fence_proxy_async_global();
        post(written - 1 - kLag);
      }
    }
    /// After the CTA's last tile: posts the tiles not yet posted, then the casting warp's end.
    __device__ __forceinline__ void close() {
      ptx::bulk_wait_group<0>();
      ptx::fence_proxy_async_global();
      for (uint32_t n = written > kLag ? written - kLag : 0; n < written; ++n) post(n);
      write(kClosed, 0);
      post(written - 1);
    }

    __device__ __forceinline__ void write(int c0, int head) {
      const uint32_t slot = written % Tr::kCastSlots, parity = (written / Tr::kCastSlots) & 1u;
      MAGI_BWD_CLOCK(t0);
      Barrier::at(&s.cast_empty[slot]).wait(parity ^ 1u);  // PipelineState::empty_parity
      MAGI_BWD_MARK(true, bwd_mark_post_wait(t0));
      s.cast_row[slot] = c0;
      s.cast_head[slot] = head;
      ++written;
    }
    __device__ __forceinline__ void post(uint32_t n) const {
      Barrier::at(&s.cast_full[n % Tr::kCastSlots]).arrive();
    }
  };

  /// The casting warp (all lanes): takes the posted tiles n, n + 1, ... in batches, lane j
  /// tile n + j: counts down the blocks each touched, gives its slot back, and lists the
  /// blocks it brought to zero; then the warp casts the listed blocks; until the end is posted.
  /// NOTE: the warp has 24 registers: the list of blocks to cast is kept in shared memory, and
  /// one word holds the queue's position and the stage barriers' next phase (two spilled).
  __device__ static void run(const BwdParams& p, Storage& s) {
    const uint32_t lane = threadIdx.x % 32;
    for (uint32_t at = 0;;) {  // the next tile at / 2; the stage barriers' next parity at % 2
      const uint32_t n = at / 2;
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
      const uint32_t zeroed = lane < k && c0 != kClosed ? count_down(p, c0, head) : 0u;
      // The blocks to cast: lane j's first, then its second, in lane order.
      uint32_t listed = 0;
#pragma unroll
      for (int b = 0; b < 2; ++b) {
        const uint32_t mine = (zeroed >> b) & 1u, all = __ballot_sync(~0u, mine != 0);
        if (mine != 0) {
          const uint32_t pos = listed + static_cast<uint32_t>(__popc(all & ((1u << lane) - 1u)));
          s.cast_todo[pos] = (c0 / Tr::kBlockM + b) * p.num_heads_q + head;
        }
        listed += static_cast<uint32_t>(__popc(all));
      }
      MAGI_BWD_MARK(lane == 0, bwd_mark_count(t0, k));
      // NOTE: the counting lanes acquired the other CTAs' additions; the warp barrier orders
      // the lanes' accesses (and the list) after it (one thread's acquire, then a barrier: as a
      // CTA-wide semaphore).
      const bool last = __any_sync(~0u, lane < k && c0 == kClosed);
      if (lane == 0) s.cast_todo[listed] = last ? kLastEnd : kListEnd;
      at += 2 * k;
      __syncwarp();
      int i = 0;
#pragma unroll 1
      for (; s.cast_todo[i] >= 0; ++i, at ^= 1u) cast_block(p, s, s.cast_todo[i], at % 2);
      if (s.cast_todo[i] == kLastEnd) return;
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
#ifdef MAGI_FFA_BWD_CAST_SKIP  // probe: the count-downs and loads without the casts
    if (MAGI_FFA_BWD_CAST_SKIP) {
      Barrier::at(&s.cast_landed[0]).wait(parity);
      Barrier::at(&s.cast_landed[1]).wait(parity);
      return;
    }
#endif
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
