// dQ writer of the warp-specialised Hopper backward kernel (route BwdWsTraits::kDqTma): one
// elected thread of warpgroup 0's second warp walks the CTA's tiles as the consumers do and,
// per query tile, adds the consumers' fp32 dQ tile from shared memory into dq with TMA
// reductions, so the consumers issue no per-element global reductions. Contract with the
// consumers (bwd_ws_consumer.cuh): they wait for dq_empty, write the tile, and arrive on
// dq_full; the writer waits for dq_full, reduces, waits until the reductions have read the
// tile, and arrives on dq_empty.
#pragma once

#include "kernels/cuda/ffa/sm90/bwd_ws_params.h"
#include "kernels/cuda/ffa/sm90/bwd_ws_shared_storage.cuh"
#include "kernels/cuda/ffa/sm90/bwd_ws_traits.cuh"
#include "kernels/cuda/ffa/sm90/pipeline.cuh"
#include "kernels/cuda/ffa/sm90/segment_tiles.h"
#include "kernels/cuda/ptx/shared.cuh"
#include "kernels/cuda/ptx/tma.cuh"

namespace magi::cuda::sm90 {

template <class Tr>
struct BwdWsDqWriter {
  using Storage = BwdWsSharedStorage<Tr>;
  using Half = typename Tr::DqHalf;

  __device__ static void run(const BwdParamsSm90& P, Storage& s) {
    const BwdParams& p = P.p;
    if (p.deterministic) return;  // the deterministic mode adds dQ in turns (red.global)
    ptx::prefetch_tensormap(&P.tma_dq);
    const uint32_t base = ptx::cvta_to_shared(s.dq);
    const Barrier full = Barrier::at(&s.dq_full), empty = Barrier::at(&s.dq_empty);
    PipelineState<1> dq;
    for (int round = 0;; ++round) {
      const int tile = P.sched.tile(blockIdx.x, round);
      if (tile < 0) break;
      const FfaWorkItem item = p.items[P.sched.item_of(tile)];
      if (item.seg_begin == item.seg_end) continue;
      const int head = P.sched.head_of(tile);
      RowTiles<Tr::kBlockM> rows(p.segs, item, false);
      do {
        full.wait(dq.full_parity());
        // NOTE: the whole box of kBlockM rows is added; the consumers' rows outside the
        // tile's segment hold exact zeros (their dS is 0), rows past total_q are clipped.
#pragma unroll
        for (int half = 0; half < 2; ++half) {
#pragma unroll
          for (int a = 0; a < Half::kAtoms; ++a) {
            const int col = (Tr::kHeadDim == 128 ? 64 * half : 0) + 32 * a;
            ptx::tma_reduce_add_3d(&P.tma_dq, base + half * Half::kBytes + a * Half::kAtomBytes,
                                   col, head, rows.c0);
          }
        }
        ptx::bulk_commit_group();
        ptx::bulk_wait_group_read<0>();
        empty.arrive();
        dq.advance();
      } while (rows.next(p.segs));
    }
    ptx::bulk_wait_group<0>();
  }
};

}  // namespace magi::cuda::sm90
