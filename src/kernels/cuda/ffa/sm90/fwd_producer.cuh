// Producer of the Hopper forward kernel: one elected thread walks the CTA's work stream and
// loads, per item with keys, its Q block into the Q ring, and each key tile's K and V into the
// K/V ring, in the order the consumers use them.
#pragma once

#include <cstdint>

#include "kernels/cuda/ffa/sm90/fwd_params.h"
#include "kernels/cuda/ffa/sm90/fwd_shared_storage.cuh"
#include "kernels/cuda/ffa/sm90/fwd_timeline.cuh"
#include "kernels/cuda/ffa/sm90/pipeline.cuh"
#include "kernels/cuda/ffa/sm90/work_stream.h"
#include "kernels/cuda/ptx/cluster.cuh"
#include "kernels/cuda/ptx/shared.cuh"
#include "kernels/cuda/ptx/tma.cuh"

namespace magi::cuda::sm90 {

template <class Tr>
struct FwdProducer {
  using Storage = FwdSharedStorage<Tr>;

  /// Loads the kAtoms boxes of one [rows x 64 kAtoms] tile (rows from `row0` of head `head`).
  template <int kAtoms>
  __device__ __forceinline__ static void load_tile(const CUtensorMap& map, uint32_t dst,
                                                   uint32_t atom_bytes, int head, int row0,
                                                   Barrier full, uint64_t policy) {
#pragma unroll
    for (int a = 0; a < kAtoms; ++a) {
      ptx::tma_load_3d(dst + a * atom_bytes, &map, 64 * a, head, row0, full.addr, policy);
    }
  }
  /// load_tile of a K / V tile; in a pair (`pair`: FwdParamsSm90::pair) only the atoms of this
  /// CTA's parity (its rank in the cluster), each into both CTAs: the pair's two loads fill the
  /// tile in both.
  template <int kAtoms>
  __device__ __forceinline__ static void load_kv_tile(const CUtensorMap& map, uint32_t dst,
                                                      uint32_t atom_bytes, int head, int row0,
                                                      Barrier full, uint64_t policy, int pair) {
    if (!Tr::kPairs || pair == 0) {
      return load_tile<kAtoms>(map, dst, atom_bytes, head, row0, full, policy);
    }
    const int rank = static_cast<int>(ptx::cluster_ctarank());
#pragma unroll
    for (int a = 0; a < kAtoms; ++a) {
      if ((a & 1) != rank) continue;
      ptx::tma_load_3d_multicast(dst + a * atom_bytes, &map, 64 * a, head, row0, full.addr,
                                 uint16_t{0b11}, policy);
    }
  }

  /// The producer warp's walk: every lane that calls it waits on the barriers, `leader` alone
  /// arrives and issues the loads.
  __device__ static void run(const FwdParamsSm90& P, Storage& s, bool leader) {
    const FwdParams& p = P.p;
    ptx::prefetch_tensormap(&P.tma_q);
    ptx::prefetch_tensormap(&P.tma_k);
    ptx::prefetch_tensormap(&P.tma_v);
    // Q is read by one CTA, K and V by every CTA of the kv head's rows: keep K/V in L2.
    // NOTE: Q at normal priority measured no faster, also at 2k where the bench's next call
    // reads the same Q (bench/NOTES.md v52).
    const uint64_t q_policy = ptx::policy_evict_first();
    const uint64_t kv_policy = ptx::policy_evict_last();
    const uint32_t a_q = ptx::cvta_to_shared(s.q[0]);
    const uint32_t a_k = ptx::cvta_to_shared(s.k[0]);
    const uint32_t a_v = ptx::cvta_to_shared(s.v[0]);
    PipelineState<Tr::kQStages> q;
    PipelineState<Tr::kStages> kv;
    WorkStream<Tr::kBlockN> ws{P.sched, P.plan_units, P.plan_start,
                               static_cast<int32_t>(blockIdx.x)};
    if (!ws.next_item(p.items, p.segs, IgnoreEmpty{})) return;
    MAGI_FWD_MARK(leader, kMarkProdItem);
    StreamStep step = StreamStep::kNewItem;
    do {
      if (step == StreamStep::kNewItem) {
        const Barrier full_q = Barrier::at(&s.full_q[q.index]);
        Barrier::at(&s.empty_q[q.index]).wait(q.empty_parity());
        if (leader) {
          full_q.arrive_expect_bytes(Tr::kQBytes);
          load_tile<Tr::kAtoms>(P.tma_q, a_q + q.index * Tr::kQBytes, Tr::QTile::kAtomBytes,
                                ws.head(), ws.item.block_start, full_q, q_policy);
          MAGI_FWD_MARK(true, kMarkProdQ);
        }
        q.advance();
      }
      const int kv_head = ws.head() / p.heads_per_kv;
      const Barrier full_k = Barrier::at(&s.full_k[kv.index]);
      const Barrier full_v = Barrier::at(&s.full_v[kv.index]);
      Barrier::at(&s.empty_k[kv.index]).wait(kv.empty_parity());
      if (leader) {
        full_k.arrive_expect_bytes(Tr::kKvBytes);
        load_kv_tile<Tr::kAtoms>(P.tma_k, a_k + kv.index * Tr::kKvBytes, Tr::KvTile::kAtomBytes,
                                 kv_head, ws.keys.c0, full_k, kv_policy, P.pair);
      }
      Barrier::at(&s.empty_v[kv.index]).wait(kv.empty_parity());
      if (leader) {
        full_v.arrive_expect_bytes(Tr::kVBytes);
        load_kv_tile<Tr::kAtomsV>(P.tma_v, a_v + kv.index * Tr::kVBytes, Tr::VTile::kAtomBytes,
                                  kv_head, ws.keys.c0, full_v, kv_policy, P.pair);
      }
      kv.advance();
      step = ws.next(p.items, p.segs, IgnoreEmpty{});
    } while (step != StreamStep::kEnd);
  }
};

}  // namespace magi::cuda::sm90
