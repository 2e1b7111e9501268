// dQ writer of the warp-specialised Hopper backward kernel: one elected thread of warpgroup
// 0's second warp walks the CTA's tiles (and key passes) as the consumers do and, per query
// tile, adds the consumers' fp32 dQ tile from shared memory into dq with TMA reductions, so
// the consumers issue no per-element global reductions. Contract with the consumers
// (bwd_ws_consumer.cuh): they wait for dq_empty, write the tile, and arrive on dq_full; the writer
// waits for dq_full, reduces, waits until the reductions have read the tile, and arrives on
// dq_empty. Deterministic mode: the writer adds a tile only in its turn (the consumers never wait
// for dQ turns), one reduction after the other, and passes the turn once they are complete.
// With the dQ cast (bwd_ws_dq_cast.cuh) it posts each tile once its reductions are complete
// (after the consumers have the tile's buffer back).
#pragma once

#include "kernels/cuda/ffa/sm90/bwd_tiles.cuh"
#include "kernels/cuda/ffa/sm90/bwd_ws_dq_cast.cuh"
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
  using Tile = typename Tr::DqTile;
  static constexpr int kAtoms = Tile::kAtoms;  // of 32 columns

  /// The first dq column of atom i in part `part` (bwd_ws_traits.cuh: DqTile): one part, atom i
  /// holds [32 i, 32 i + 32); two, [64 part + 32 (i % 2), ...) of warpgroup i / 2's window.
  __device__ __forceinline__ static int column(int i, int part) {
    if constexpr (Tr::kDqParts == 1) {
      return 32 * i;
    } else {
      return (i / 2) * Tr::kWindowStep + 64 * part + 32 * (i % 2);
    }
  }

  /// Adds the shared tile (at `base`) of part `part` into rows [c0, c0 + kBlockM), from column
  /// `col0` on (the D pass's first column, bwd_tiles.cuh: for_each_d_pass).
  __device__ __forceinline__ static void reduce(const BwdParamsSm90& P, uint32_t base, int part,
                                                int col0, int head, int c0) {
#pragma unroll
    for (int i = 0; i < kAtoms; ++i) {
      ptx::tma_reduce_add_3d(&P.tma_dq, base + i * Tile::kAtomBytes, col0 + column(i, part), head,
                             c0);
    }
  }

  __device__ static void run(const BwdParamsSm90& P, Storage& s) {
    const BwdParams& p = P.p;
    const bool det = p.deterministic != 0;
    ptx::prefetch_tensormap(&P.tma_dq);
    const uint32_t base = ptx::cvta_to_shared(s.dq());
    const Barrier full = Barrier::at(&s.dq_full), empty = Barrier::at(&s.dq_empty);
    PipelineState<1> dq;
    typename BwdWsDqCast<Tr>::Poster cast{s};  // Tr::kCastDq with dq_store
    for_each_bwd_tile(P.sched, p, [&](const BwdTile& tile) {
      // NOTE: this thread has 24 registers, and at head dim 256 every value held across the
      // row walks spilled: the item is read where used from the list (not the tile's copy),
      // and one unsigned word counts down the item's key passes (for_each_key_pass) and
      // names the item (pass_at / kPasses), so no key, item address or sign word is held.
      const int head = tile.head;
      uint32_t pass_at = static_cast<uint32_t>(tile.item_index) * Tr::kPasses +
                         key_passes<Tr>(p.items[tile.item_index]);
      do {
        --pass_at;
        const FfaWorkItem& item = p.items[pass_at / Tr::kPasses];
        for_each_d_pass<Tr>([&](int col0) {
          RowTiles<Tr::kBlockM> rows(p.segs, item, det);
          int turn_at = item.turn_begin;  // this tile's entry in row_turns (deterministic mode)
          int h = head;                   // a walk per query head (BwdParams::pack_heads)
          do {
#pragma unroll
            for (int part = 0; part < Tr::kDqParts; ++part) {
              full.wait(dq.full_parity());
              // NOTE: the whole box of kBlockM rows is added; the consumers' rows outside the
              // tile's segment hold exact zeros (their dS is 0), rows past total_q are clipped.
              if (!det) {
                reduce(P, base, part, col0, h, rows.c0);
                ptx::bulk_commit_group();
                ptx::bulk_wait_group_read<0>();
              } else {
                // NOTE: the deterministic lists have items of one key pass (prepared_work.h), so
                // a tile's turn is taken once (and held over its parts).
                int* at = p.dq_turn + ((rows.c0 / Tr::kBlockM) * p.num_heads_q + h);
                const int turn = p.row_turns[turn_at];
                if (part == 0) {
                  while (ptx::ld_acquire_gpu(at) != turn) {
                  }
                  ptx::fence_proxy_async_global();
                }
                reduce(P, base, part, col0, h, rows.c0);
                ptx::bulk_commit_group();
                ptx::bulk_wait_group<0>();
                if (part == Tr::kDqParts - 1) {
                  ptx::fence_proxy_async_global();
                  ptx::st_release_gpu(at, turn + 1);
                }
              }
              empty.arrive();
              dq.advance();
            }
            if constexpr (Tr::kCastDq) {
              if (p.dq_store != nullptr) cast.added(h, rows.c0);
            }
            ++turn_at;
          } while (rows.next(p.segs) ||
                   (Tr::kPackHeads && ++h < head + p.pack_heads &&
                    (rows.reset(p.segs, item, det), turn_at = item.turn_begin, true)));
        });
      } while (pass_at % Tr::kPasses != 0);
    });
    ptx::bulk_wait_group<0>();
    if constexpr (Tr::kCastDq) {
      if (p.dq_store != nullptr) cast.close();
    }
  }
};

}  // namespace magi::cuda::sm90
