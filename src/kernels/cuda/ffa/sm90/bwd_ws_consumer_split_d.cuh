// Consumers of the warp-specialised Hopper backward kernel for head dims above 128, where dK and
// dV of 64 keys over the whole head dim would not fit one warpgroup's registers. The item is
// walked in passes of 64 keys (bwd_tiles.cuh: for_each_key_pass); both warpgroups work on the
// pass's keys and split the rest:
//   S^T, dP^T [64 keys x 64 rows]: warpgroup w computes rows [32 w, 32 w + 32) over the whole
//     head dim (wgmma SS, N = 32), then P^T and dS^T of those rows (the hooks of
//     bwd_ws_consumer.cuh), stored to shared memory: P^T in columns [0, 64) of the dS tile,
//     dS^T in [64, 128);
//   after both warpgroups stored theirs (kDsReady), warpgroup w takes a window of 128 head-dim
//   columns from column w (D - 128) (bwd_ws_traits.cuh) of every product over the tile:
//     dV += P^T dO,  dK += dS^T Q,  dQ = dS K     wgmma SS, A = the shared P^T / dS^T
//   (dV's window over v's head dim: Tr::kWindowV columns from w Tr::kWindowStepV; with MLA's
//   Dv = 128 each warpgroup one half. dP^T contracts over Dv.)
// The dQ tile goes to the writer warp as in bwd_ws_consumer.cuh (each warpgroup its columns), or
// in two parts (Tr::kDqParts, a development variant at 256: one 64-column block per warpgroup
// each); dK / dV stay in registers over the pass's query tiles and are written per pass. At 256
// dO has a ring of its own (Tr::kDoRing), released once dV has read it.
#pragma once

#include <cstdint>

#include "kernels/cuda/ffa/sm90/bwd_ws_consumer.cuh"

namespace magi::cuda::sm90 {

template <class Tr, Softcap kCap>
struct BwdWsConsumerSplitD {
  using Base = BwdWsConsumer<Tr, kCap>;  // score hooks, dQ hand-off, turns, epilogue
  using Storage = BwdWsSharedStorage<Tr>;
  static constexpr bool kBf16 = Tr::kElem == Elem::kBf16;
  static constexpr int kD = Tr::kHeadDim, kBM = Tr::kBlockM, kKeys = Tr::kPassKeys;
  static constexpr int kRows = kBM / 2;          // rows of S^T / dP^T per warpgroup
  static constexpr int kNS = kRows / 8;          // n8 column blocks of S^T per thread
  static constexpr int kNO = Tr::kWindow / 8;    // n8 column blocks of dK of the window
  static constexpr int kNOV = Tr::kWindowV / 8;  // ... of dV
  using KvTile = typename Tr::KvTile;
  using QTile = typename Tr::QTile;
  using VTile = typename Tr::VTile;
  using DoTile = typename Tr::DoTile;
  using DsTile = typename Tr::DsTile;
  static_assert(Tr::kSplitD && kKeys == 64 && kBM == 64);

  /// dV (+= P^T dO, BTile DoTile) or dK (+= dS^T Q, kk0 = 4, BTile QTile) of this warpgroup's
  /// window [c0, c0 + 8 kNT): A the shared P^T / dS^T (K-major, k = query rows), B = dO / Q;
  /// `fresh` overwrites.
  template <class BTile, int kNT>
  __device__ __forceinline__ static void issue_grad(float (&acc)[kNT][4], uint32_t a_ds, int kk0,
                                                    uint32_t b, int c0, bool fresh) {
#pragma unroll
    for (int kk = 0; kk < kBM / 16; ++kk) {
      ptx::Wgmma<8 * kNT, kBf16>::template ss<0, 1>(acc, DsTile::k_major(a_ds, 0, kk0 + kk),
                                                    BTile::mn_major(b, kk, c0), kk > 0 || !fresh);
    }
    ptx::wgmma_commit_group();
  }
  /// dQ columns [c0, c0 + 64) = dS K: A = (dS^T)^T (MN-major), k = the pass's keys.
  __device__ __forceinline__ static void issue_dq(float (&dq)[8][4], uint32_t a_ds, uint32_t a_k,
                                                  int c0) {
#pragma unroll
    for (int kk = 0; kk < kKeys / 16; ++kk) {
      ptx::Wgmma<64, kBf16>::template ss<1, 1>(dq, DsTile::mn_major(a_ds, kk, 64),
                                               KvTile::mn_major(a_k, kk, c0), kk > 0);
    }
    ptx::wgmma_commit_group();
  }

  /// dK (kDk) or dV of this warp's keys in its window's columns [c0, c0 + 8 kNT) from column
  /// c0 + `skip` on (skip 0 or kSkip: the columns before are the other warpgroup's).
  template <bool kDk, int kSkip, int kNT>
  __device__ __forceinline__ static void store_window(const BwdParams& p, int kv_head, int key0,
                                                      int end, int c0, int skip,
                                                      const float (&acc)[kNT][4], int lane) {
    if (kSkip == 0 || skip == 0) {
      Base::template store_grad<kDk>(p, kv_head, key0, end, c0, acc, lane);
    } else {
      constexpr int kFrom = kSkip / 8;
      Base::template store_grad<kDk>(p, kv_head, key0, end, c0 + kSkip,
                                     reinterpret_cast<const float(&)[kNT - kFrom][4]>(acc[kFrom]),
                                     lane);
    }
  }

  __device__ static void run(const BwdParamsSm90& P, Storage& st, int wg) {
    const BwdParams& p = P.p;
    const int lane = threadIdx.x & 31, warp = (threadIdx.x >> 5) & 3;
    const int col0 = wg * Tr::kWindowStep;  // this warpgroup's window
    const int skip = wg * Tr::kWindowSkip;  // ... of which it writes columns [skip, 128)
    const int col0_v = wg * Tr::kWindowStepV, skip_v = wg * Tr::kWindowSkipV;  // dV's
    PipelineState<Tr::kKvStages> kv;
    PipelineState<Tr::kStages> q;
    PipelineState<Tr::kDoStages> dout;  // Tr::kDoRing only
    PipelineState<1> dq_ring;
    int ds_buf = 0;

    for_each_bwd_tile(P.sched, p, [&](const BwdTile& tile) {
      const FfaWorkItem& item = tile.item;
      const int head = tile.head;
      for_each_key_pass<Tr>(item, [&](int key0) {
        float dk[kNO][4], dv[kNOV][4];  // [16 keys x this warpgroup's columns] of this warp
        bool fresh = true;
        Barrier::at(&st.full_kv[kv.index]).wait(kv.full_parity());
        RowTiles<kBM> rows(p.segs, item, p.deterministic != 0);
        do {
          const SegmentMask mask = SegmentMask::load(p.segs + rows.seg);
          Barrier::at(&st.full_q[q.index]).wait(q.full_parity());
          // Addresses per tile (shared_addr_per_use): the descriptors are rebuilt per tile.
          const uint32_t a_q = ptx::shared_addr_per_use(st.q[q.index]);
          const uint32_t a_do =
              ptx::shared_addr_per_use(st.dout[Tr::kDoRing ? dout.index : q.index]);
          const uint32_t a_k = ptx::shared_addr_per_use(st.k[kv.index]);
          const uint32_t a_v = ptx::shared_addr_per_use(st.v[kv.index]);
          // This warpgroup's first row's statistics (bwd_ws_traits.cuh: kStatRows).
          const uint32_t stat = (rows.c0 - Tr::stat_row0(rows.c0) + kRows * wg) * 4;
          const uint32_t a_lse = ptx::cvta_to_shared(st.lse2[q.index]) + stat;
          const uint32_t a_dsum = ptx::cvta_to_shared(st.dsum[q.index]) + stat;
          const uint32_t a_ds = ptx::shared_addr_per_use(st.ds(ds_buf));

          float s_t[kNS][4], dp_t[kNS][4];  // [16 keys x kRows rows] of this warp
          ptx::wgmma_fence();
          Base::issue_transposed(s_t, KvTile::k_major(a_k, 0), QTile::k_major(a_q, kRows * wg));
          if constexpr (Tr::kDoRing) Barrier::at(&st.full_do[dout.index]).wait(dout.full_parity());
          Base::template issue_transposed<kNS, Tr::kHeadDimV>(dp_t, VTile::k_major(a_v, 0),
                                                              DoTile::k_major(a_do, kRows * wg));
          ptx::wgmma_wait_group<1>();
          ptx::fence_acc(s_t);
          Base::probs(s_t, p, mask, a_lse, rows.c0 + kRows * wg, key0 + 16 * warp, lane);
          ptx::wgmma_wait_group<0>();
          ptx::fence_acc(dp_t);
          Base::dscores(dp_t, s_t, p, a_lse, a_dsum, lane);
          // Accumulator [nt][j]: key 16 warp + g + 8 (j >> 1), row kRows wg + 8 nt + 2 t + (j & 1).
          // NOTE: g and t read afresh here: held from the start, ptxas spilled them.
          const int g = ptx::lane_id() >> 2, t = ptx::lane_id() & 3;
#pragma unroll
          for (int nt = 0; nt < kNS; ++nt)
#pragma unroll
            for (int hi = 0; hi < 2; ++hi) {
              const int key = 16 * warp + g + 8 * hi, col = kRows * wg + 8 * nt + 2 * t;
              ptx::st_shared_b32(a_ds + DsTile::offset(key, col),
                                 pack2<Tr::kElem>(s_t[nt][2 * hi], s_t[nt][2 * hi + 1]));
              ptx::st_shared_b32(a_ds + DsTile::offset(key, 64 + col),
                                 pack2<Tr::kElem>(dp_t[nt][2 * hi], dp_t[nt][2 * hi + 1]));
            }
          ptx::fence_proxy_async_shared();  // the stores -> visible to wgmma's operand reads
          // NOTE: as in bwd_ws_consumer.cuh, a buffer is rewritten two tiles later, after both
          // warpgroups waited for every product that read it.
          ptx::named_barrier_sync(static_cast<uint32_t>(BwdBarrier::kDsReady),
                                  Tr::kConsumerThreads);
          // dV, then dQ in blocks of 64 columns (32 registers, not 64: with dK / dV that would
          // exceed the budget), then dK; dK runs while dQ goes to the writer.
          ptx::wgmma_fence();
          issue_grad<DoTile>(dv, a_ds, 0, a_do, col0_v, fresh);
#pragma unroll
          for (int b = 0; b < Tr::kWindow / 64; ++b) {
            float dq[8][4];
            if (b > 0) ptx::wgmma_fence();  // dq's registers were read since
            issue_dq(dq, a_ds, a_k, col0 + 64 * b);
            if (b == 0) {
              issue_grad<QTile>(dk, a_ds, 4, a_q, col0, fresh);
              ptx::wgmma_wait_group<1>();  // dV, dQ block 0 (dK may still run)
              ptx::fence_acc(dv);
              if constexpr (Tr::kDoRing) {  // dO's last reader was dV
                Base::release(st.empty_do[dout.index], lane);
                dout.advance();
              }
              Barrier::at(&st.dq_empty).wait(dq_ring.empty_parity());
            } else {
              ptx::wgmma_wait_group<0>();        // dQ block b (and dK)
              if constexpr (Tr::kDqParts > 1) {  // the writer has read the previous part
                Barrier::at(&st.dq_empty).wait(dq_ring.empty_parity());
              }
            }
            ptx::fence_acc(dq);
            if constexpr (Tr::kDqParts > 1) {  // part b: this warpgroup's half of the tile
              Base::write_dq(st, dq, p.scale, 64 * wg, warp, lane);
              Base::publish_dq(st, dq_ring);
            } else if (64 * b >= skip) {
              Base::write_dq(st, dq, p.scale, col0 + 64 * b, warp, lane);
            }
          }
          if constexpr (Tr::kDqParts == 1) Base::publish_dq(st, dq_ring);
          fresh = false;
          ptx::wgmma_wait_group<0>();  // dK
          ptx::fence_acc(dk);
          Base::release(st.empty_q[q.index], lane);
          q.advance();
          ds_buf ^= 1;
        } while (rows.next(p.segs));
        Base::release(st.empty_kv[kv.index], lane);
        kv.advance();

        const auto store = [&] {
          const int kv_head = head / p.heads_per_kv, key = key0 + 16 * warp;
          store_window<true, Tr::kWindowSkip>(p, kv_head, key, item.block_end, col0, skip, dk,
                                              lane);
          store_window<false, Tr::kWindowSkipV>(p, kv_head, key, item.block_end, col0_v, skip_v, dv,
                                                lane);
        };
        if (p.deterministic && !p.dkv_store) {
          // In head order (the deterministic list's items are one pass: prepared_work.h).
          const int kv_head = head / p.heads_per_kv;
          int* at = p.dkv_turn + tile.item_index * (p.num_heads_q / p.heads_per_kv) + kv_head;
          const int turn = head % p.heads_per_kv;
          Base::wait_turn(at, turn, wg);
          store();
          Base::pass_turn(at, turn + 1, wg);
        } else {
          store();
        }
      });
    });
  }
};

}  // namespace magi::cuda::sm90
