// Producer of the warp-specialised Hopper backward kernel: one elected thread loads, per
// (item, query head) tile of the CTA and per key pass (bwd_tiles.cuh), the pass's K and V
// once, then every query tile of the item's segments (Q, dO, and the rows' lse and D) through
// the ring, once per D pass. V and dO are Dv columns wide (Tr::kHeadDimV), the others D.
#pragma once

#include <cstdint>

#include "kernels/cuda/ffa/sm90/bwd_tiles.cuh"
#include "kernels/cuda/ffa/sm90/bwd_ws_params.h"
#include "kernels/cuda/ffa/sm90/bwd_ws_shared_storage.cuh"
#include "kernels/cuda/ffa/sm90/pipeline.cuh"
#include "kernels/cuda/ffa/sm90/segment_tiles.h"
#include "kernels/cuda/ptx/shared.cuh"
#include "kernels/cuda/ptx/tma.cuh"

namespace magi::cuda::sm90 {

template <class Tr>
struct BwdWsProducer {
  using Storage = BwdWsSharedStorage<Tr>;

  /// The kAtoms boxes of one [rows x 64 kAtoms] tile (rows from `row0` of head `head`).
  template <int kAtoms = Tr::kAtoms>
  __device__ __forceinline__ static void load_tile(const CUtensorMap& map, uint32_t dst,
                                                   uint32_t atom_bytes, int head, int row0,
                                                   uint32_t full, uint64_t policy) {
#pragma unroll
    for (int a = 0; a < kAtoms; ++a) {
      ptx::tma_load_3d(dst + a * atom_bytes, &map, 64 * a, head, row0, full, policy);
    }
  }

  __device__ static void run(const BwdParamsSm90& P, Storage& s) {
    const BwdParams& p = P.p;
    for (const CUtensorMap* m :
         {&P.tma_q, &P.tma_do, &P.tma_k, &P.tma_v, &P.tma_lse2, &P.tma_dsum}) {
      ptx::prefetch_tensormap(m);
    }
    PipelineState<Tr::kKvStages> kv;
    PipelineState<Tr::kStages> q;
    PipelineState<Tr::kDoStages> dout;  // Tr::kDoRing only
    for_each_bwd_tile(P.sched, p, [&](const BwdTile& tile) {
      // NOTE: the item read where used from the list (global memory, cached), not the tile's
      // copy: this thread has 24 registers, and the copy held across the passes spilled.
      const FfaWorkItem& item = p.items[tile.item_index];
      const int head = tile.head;
      for_each_key_pass<Tr>(item, [&](int key0) {
        // K/V are read by the item's CTAs of every query head sharing them; a query tile by
        // the items of its rows' keys: both stay in L2 (evict last); nothing is read only once.
        // NOTE: the policy is made where it is used (one instruction): held across the loops,
        // its two registers made this thread (24 registers) spill at head dims above 128.
        const uint64_t policy = ptx::policy_evict_last();
        const int kv_head = head / p.heads_per_kv;
        const Barrier full_kv = Barrier::at(&s.full_kv[kv.index]);
        Barrier::at(&s.empty_kv[kv.index]).wait(kv.empty_parity());
        full_kv.arrive_expect_bytes(Tr::kKvBytes + Tr::kVBytes);
        load_tile(P.tma_k, ptx::cvta_to_shared(s.k[kv.index]), Tr::KvTile::kAtomBytes, kv_head,
                  key0, full_kv.addr, policy);
        load_tile<Tr::kAtomsV>(P.tma_v, ptx::cvta_to_shared(s.v[kv.index]), Tr::VTile::kAtomBytes,
                               kv_head, key0, full_kv.addr, policy);
        kv.advance();

        // D passes: the query tiles once per walk (for_each_d_pass), K / V once; a walk per
        // query head of the tile (BwdParams::pack_heads), in one loop (as the consumers').
        for_each_d_pass<Tr>([&](int) {
          RowTiles<Tr::kBlockM> rows(p.segs, item, p.deterministic != 0);
          int h = head;
          do {
            const uint64_t policy = ptx::policy_evict_last();
            const Barrier full_q = Barrier::at(&s.full_q[q.index]);
            Barrier::at(&s.empty_q[q.index]).wait(q.empty_parity());
            full_q.arrive_expect_bytes(Tr::kQBytes + (Tr::kDoRing ? 0 : Tr::kDoBytes) +
                                       2 * Tr::kStatBytes);
            load_tile(P.tma_q, ptx::cvta_to_shared(s.q[q.index]), Tr::QTile::kAtomBytes, h, rows.c0,
                      full_q.addr, policy);
            if constexpr (!Tr::kDoRing) {
              load_tile<Tr::kAtomsV>(P.tma_do, ptx::cvta_to_shared(s.dout[q.index]),
                                     Tr::DoTile::kAtomBytes, h, rows.c0, full_q.addr, policy);
            }
            ptx::tma_load_3d(ptx::cvta_to_shared(s.lse2[q.index]), &P.tma_lse2,
                             Tr::stat_row0(rows.c0), h, 0, full_q.addr, policy);
            ptx::tma_load_3d(ptx::cvta_to_shared(s.dsum[q.index]), &P.tma_dsum,
                             Tr::stat_row0(rows.c0), h, 0, full_q.addr, policy);
            q.advance();
            if constexpr (Tr::kDoRing) {
              // NOTE: dO after Q: tile j + 1's dO slot frees when tile j's dV is done, its Q slot
              // (with two Q stages) when tile j - 1's dK is: Q first never waits behind dO.
              const Barrier full_do = Barrier::at(&s.full_do[dout.index]);
              Barrier::at(&s.empty_do[dout.index]).wait(dout.empty_parity());
              full_do.arrive_expect_bytes(Tr::kDoBytes);
              load_tile<Tr::kAtomsV>(P.tma_do, ptx::cvta_to_shared(s.dout[dout.index]),
                                     Tr::DoTile::kAtomBytes, h, rows.c0, full_do.addr,
                                     ptx::policy_evict_last());
              dout.advance();
            }
          } while (rows.next(p.segs) || (Tr::kPackHeads && ++h < head + p.pack_heads &&
                                         (rows.reset(p.segs, item, p.deterministic != 0), true)));
        });
      });
    });
  }
};

}  // namespace magi::cuda::sm90
