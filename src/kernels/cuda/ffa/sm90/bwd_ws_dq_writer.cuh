// dQ writer of the warp-specialised Hopper backward kernel: one elected thread of warpgroup
// 0's second warp walks the CTA's tiles as the consumers do and, per query tile, adds the
// consumers' fp32 dQ tile from shared memory into dq with TMA reductions, so the consumers
// issue no per-element global reductions. Contract with the consumers (bwd_ws_consumer.cuh):
// they wait for dq_empty, write the tile, and arrive on dq_full; the writer waits for
// dq_full, reduces, waits until the reductions have read the tile, and arrives on dq_empty.
// Deterministic mode: the writer adds a tile only in its turn (the consumers never wait for
// dQ turns), one reduction after the other, and passes the turn once they are complete.
#pragma once

#include "kernels/cuda/ffa/sm90/bwd_tiles.cuh"
#include "kernels/cuda/ffa/sm90/bwd_ws_params.h"
#include "kernels/cuda/ffa/sm90/bwd_ws_shared_storage.cuh"
#include "kernels/cuda/ffa/sm90/bwd_ws_traits.cuh"
#include "kernels/cuda/ffa/sm90/pipeline.cuh"
#include "kernels/cuda/ffa/sm90/segment_tiles.h"
#include "kernels/cuda/ptx/shared.cuh"
#include "kernels/cuda/ptx/sync.cuh"
#include "kernels/cuda/ptx/tma.cuh"

namespace magi::cuda::sm90 {

template <class Tr>
struct BwdWsDqWriter {
  using Storage = BwdWsSharedStorage<Tr>;
  using Half = typename Tr::DqHalf;

  /// Adds half `half` of the shared tile (bytes at `src`) into rows [c0, c0 + kBlockM).
  __device__ __forceinline__ static void reduce_half(const BwdParamsSm90& P, uint32_t src,
                                                     int half, int head, int c0) {
#pragma unroll
    for (int a = 0; a < Half::kAtoms; ++a) {
      const int col = (Tr::kHeadDim == 128 ? 64 * half : 0) + 32 * a;
      ptx::tma_reduce_add_3d(&P.tma_dq, src + a * Half::kAtomBytes, col, head, c0);
    }
  }

  __device__ static void run(const BwdParamsSm90& P, Storage& s) {
    const BwdParams& p = P.p;
    const bool det = p.deterministic != 0;
    ptx::prefetch_tensormap(&P.tma_dq);
    const uint32_t base = ptx::cvta_to_shared(s.dq);
    const Barrier full = Barrier::at(&s.dq_full), empty = Barrier::at(&s.dq_empty);
    PipelineState<1> dq;
    for_each_bwd_tile(P.sched, p.items, [&](const BwdTile& tile) {
      const FfaWorkItem& item = tile.item;
      const int head = tile.head;
      RowTiles<Tr::kBlockM> rows(p.segs, item, det);
      int walk = 0;
      do {
        full.wait(dq.full_parity());
        // NOTE: the whole box of kBlockM rows is added; the consumers' rows outside the
        // tile's segment hold exact zeros (their dS is 0), rows past total_q are clipped.
        if (!det) {
          reduce_half(P, base, 0, head, rows.c0);
          reduce_half(P, base + Half::kBytes, 1, head, rows.c0);
          ptx::bulk_commit_group();
          ptx::bulk_wait_group_read<0>();
        } else {
          int* at = p.dq_turn + (rows.c0 / Tr::kBlockM) * p.num_heads_q + head;
          const int turn = p.row_turns[item.turn_begin + walk];
          while (ptx::ld_acquire_gpu(at) != turn) {
          }
          ptx::fence_proxy_async_global();
          // One group per half: at head dim 64 both halves add into the same columns, and
          // reductions within a group may land in any order.
#pragma unroll
          for (int half = 0; half < 2; ++half) {
            reduce_half(P, base + half * Half::kBytes, half, head, rows.c0);
            ptx::bulk_commit_group();
            ptx::bulk_wait_group<0>();
          }
          ptx::fence_proxy_async_global();
          ptx::st_release_gpu(at, turn + 1);
        }
        empty.arrive();
        dq.advance();
        ++walk;
      } while (rows.next(p.segs));
    });
    ptx::bulk_wait_group<0>();
  }
};

}  // namespace magi::cuda::sm90
