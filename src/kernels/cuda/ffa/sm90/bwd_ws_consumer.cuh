// Consumers of the warp-specialised Hopper backward kernel: two warpgroups, warpgroup w owning
// keys [64 w, 64 w + 64) of the item and their dK, dV in registers over all the item's query
// tiles. Per query tile of 64 rows, with the products computed transposed so that P and dS
// come out of the accumulators already in the A-operand layout of the next products:
//   S^T  = K Q^T,  dP^T = V dO^T                   wgmma SS (K-major operands); head dim 64
//                                                   RS, K / V rows as register fragments
//   P^T  = 2^(S^T - lse),  dS^T = P^T (dP^T - D)   registers (dS^T also to shared memory)
//   dV  += P^T dO,  dK += dS^T Q                    wgmma RS (dO, Q MN-major)
//   dQ   = dS K                                     wgmma SS from both warpgroups' dS^T, half
//                                                   the columns each; to shared memory for
//                                                   the dQ writer
// D passes (Tr::kDPasses, head dim 256): the item's query tiles are walked once per 128-column
// half of D; S^T and dP^T contract over all of D in each walk, dV / dK / dQ take the half's
// columns, and dS^T lives in the dQ tile's memory (one buffer; order in run()).
// The first tile of an item overwrites dK / dV (no ordinary writes of accumulators, which would
// make ptxas serialise every wgmma); the products and waits of a tile are unconditional. In the
// deterministic mode the reductions into dk / dv (per item and kv head) happen in a fixed order
// (turns: wait_turn, pass_turn); the dQ writer orders those into dq.
#pragma once

#include <cstdint>

#include "kernels/cuda/ffa/bwd_kernel.cuh"
#include "kernels/cuda/ffa/mask.cuh"
#include "kernels/cuda/ffa/sm90/bwd_cut.cuh"
#include "kernels/cuda/ffa/sm90/bwd_tiles.cuh"
#include "kernels/cuda/ffa/sm90/bwd_timeline.cuh"
#include "kernels/cuda/ffa/sm90/bwd_ws_params.h"
#include "kernels/cuda/ffa/sm90/bwd_ws_shared_storage.cuh"
#include "kernels/cuda/ffa/sm90/bwd_ws_traits.cuh"
#include "kernels/cuda/ffa/sm90/pipeline.cuh"
#include "kernels/cuda/ffa/sm90/segment_tiles.h"
#include "kernels/cuda/ffa/warp_mma.cuh"
#include "kernels/cuda/ptx/ldmatrix.cuh"
#include "kernels/cuda/ptx/shared.cuh"
#include "kernels/cuda/ptx/sync.cuh"
#include "kernels/cuda/ptx/warpgroup.cuh"
#include "kernels/cuda/ptx/wgmma.cuh"

namespace magi::cuda::sm90 {

template <class Tr, Softcap kCap>
struct BwdWsConsumer {
  using Storage = BwdWsSharedStorage<Tr>;
  using T = typename Tr::T;
  static constexpr bool kBf16 = Tr::kElem == Elem::kBf16;
  static constexpr bool kSoftcap = kCap == Softcap::kOn;
  static constexpr int kD = Tr::kHeadDim, kBN = Tr::kBlockN, kBM = Tr::kBlockM;
  static constexpr int kNS = kBM / 8;  // n8 column blocks of S^T per thread (columns: rows)
  static constexpr int kNO = Tr::kGradCols / 8;  // n8 column blocks of dK / dV per thread
  using KvTile = typename Tr::KvTile;
  using QTile = typename Tr::QTile;
  using DsTile = typename Tr::DsTile;

  // S^T [64 keys x 8 kNT rows] = K_w [64 x D] Q^T (or dP^T = V_w dO^T): kK / 16 k-steps (kK:
  // D, or Dv for dP^T).
  template <int kNT, int kK = kD>
  __device__ __forceinline__ static void issue_transposed(float (&acc)[kNT][4],
                                                          KMajorSw128<KvTile::kAtomBytes> a,
                                                          KMajorSw128<QTile::kAtomBytes> b) {
#pragma unroll
    for (int kk = 0; kk < kK / 16; ++kk) {
      ptx::Wgmma<8 * kNT, kBf16>::template ss<0, 0>(acc, a.advance_k(kk).bits, b.advance_k(kk).bits,
                                                    kk > 0);
    }
    ptx::wgmma_commit_group();
  }
  // The same with K_w (or V_w) as register fragments (Tr::kScoresRs).
  template <int kNT>
  __device__ __forceinline__ static void issue_transposed(float (&acc)[kNT][4],
                                                          const uint32_t (&a)[kD / 16][4],
                                                          KMajorSw128<QTile::kAtomBytes> b) {
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
      ptx::Wgmma<8 * kNT, kBf16>::template rs<0>(acc, a[kk], b.advance_k(kk).bits, kk > 0);
    }
    ptx::wgmma_commit_group();
  }
  /// This warp's 16 rows of K_w (or V_w) at `a` as A fragments (k = head-dim columns): one
  /// ldmatrix per k slice, matrix m = rows 8 (m & 1), columns 8 (m >> 1) of the slice.
  __device__ __forceinline__ static void load_frags(uint32_t (&f)[kD / 16][4], uint32_t a,
                                                    int key_warp0, int lane) {
    const int row = key_warp0 + (lane & 7) + 8 * ((lane >> 3) & 1), col = 8 * (lane >> 4);
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk)
      ptx::ldmatrix_x4(a + KvTile::offset(row, 16 * kk + col), f[kk]);
  }
  // dV += P^T dO (or dK += dS^T Q): [64 keys x kGradCols columns of the walk], 64 / 16
  // k-steps; `fresh` overwrites.
  __device__ __forceinline__ static void issue_grad(float (&acc)[kNO][4],
                                                    const uint32_t (&a)[kBM / 16][4],
                                                    MnMajorSw128 b, bool fresh) {
#pragma unroll
    for (int kk = 0; kk < kBM / 16; ++kk) {
      ptx::Wgmma<Tr::kGradCols, kBf16>::template rs<1>(acc, a[kk], b.advance_k(kk).bits,
                                                       kk > 0 || !fresh);
    }
    ptx::wgmma_commit_group();
  }
  // dQ [64 rows x kDqN columns] = dS K: warpgroup w takes columns [w kDqN, (w + 1) kDqN) over
  // all the tile's keys (A = both warpgroups' dS^T). At head dim 64 (N = 32) this replaced each
  // warpgroup taking all columns over its own keys, which the writer then added twice into the
  // same dq rows: half the fp32 tile's shared and L2 traffic (+2-7 %, bench/NOTES.md v32).
  // D passes: of the walk's columns from col0.
  __device__ __forceinline__ static void issue_dq(float (&dq)[Tr::kDqN / 8][4], uint32_t a_ds,
                                                  uint32_t a_k, int col0, int wg) {
#pragma unroll
    for (int kk = 0; kk < kBN / 16; ++kk) {
      ptx::Wgmma<Tr::kDqN, kBf16>::template ss<1, 1>(
          dq, DsTile::mn_major(a_ds, kk, 0), KvTile::mn_major(a_k, kk, col0 + Tr::kDqN * wg),
          kk > 0);
    }
    ptx::wgmma_commit_group();
  }
  __device__ __forceinline__ static void release(uint64_t& bar, int lane) {
    if (lane == 0) Barrier::at(&bar).arrive();
  }

  /// P^T of one tile in place of S^T (fp32). Rows of the accumulators are keys (key0 + g, + 8),
  /// columns the tile's query rows (row0 + 8 nt + 2 t, + 1); `a_lse` holds row0's statistic.
  /// Cells outside the segment get 0.
  template <int kNT>
  __device__ __forceinline__ static void probs(float (&st)[kNT][4], const BwdParams& p,
                                               const SegmentMask& mask, uint32_t a_lse, int row0,
                                               int key0, int lane) {
    const int g = lane >> 2, t = lane & 3;
    const auto score = [&](float x) {
      return kSoftcap ? p.softcap_log2 * ptx::tanh_approx(x * p.scale_cap) : x * p.scale_log2;
    };
    // NOTE: a tile no slice edge crosses takes a loop without the per-cell test: with it, the
    // compiler branches around every exp2 (about 12 instructions per cell instead of 2).
    if (mask.tile_is_interior(row0, 8 * kNT, key0, 16)) {
#pragma unroll
      for (int nt = 0; nt < kNT; ++nt) {
        const float2 lse2 = ptx::ld_shared_f32_pair(a_lse + (8 * nt + 2 * t) * 4);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          st[nt][j] = ptx::ex2_approx_ftz(score(st[nt][j]) - ((j & 1) ? lse2.y : lse2.x));
        }
      }
      return;
    }
    // NOTE: per key, the rows that see it: [key - dhi + 1, key - dlo + 1) within [q0, q1);
    // compared branch-free per cell relative to row0 + 2 t.
    int lo[2], end[2];
#pragma unroll
    for (int hi = 0; hi < 2; ++hi) {
      const int key = key0 + g + 8 * hi, base = row0 + 2 * t;
      const bool key_in = key >= mask.k0 && key < mask.k1;
      lo[hi] = max(mask.q0, key - mask.dhi + 1) - base;
      end[hi] = key_in ? min(mask.q1, key - mask.dlo + 1) - base : lo[hi];
    }
#pragma unroll
    for (int nt = 0; nt < kNT; ++nt) {
      const float2 lse2 = ptx::ld_shared_f32_pair(a_lse + (8 * nt + 2 * t) * 4);
#pragma unroll
      for (int e = 0; e < 2; ++e) {
#pragma unroll
        for (int hi = 0; hi < 2; ++hi) {
          float& x = st[nt][2 * hi + e];
          const int c = 8 * nt + e;
          const bool ok = c >= lo[hi] && c < end[hi];
          x = ok ? ptx::ex2_approx_ftz(score(x) - (e ? lse2.y : lse2.x)) : 0.f;
        }
      }
    }
  }

  /// dS^T = P^T (dP^T - D) in place of dP^T; with softcap also times 1 - tanh^2 of the cell,
  /// tanh recovered from P itself (P = 2^(softcap_log2 tanh - lse2)), which keeps no per-cell
  /// array alive between the two steps (it would not fit the register budget).
  template <int kNT>
  __device__ __forceinline__ static void dscores(float (&dpt)[kNT][4], const float (&pt)[kNT][4],
                                                 const BwdParams& p, uint32_t a_lse,
                                                 uint32_t a_dsum, int lane) {
    const int t = lane & 3;
#pragma unroll
    for (int nt = 0; nt < kNT; ++nt) {
      const float2 dsum = ptx::ld_shared_f32_pair(a_dsum + (8 * nt + 2 * t) * 4);
      float2 lse2 = {0.f, 0.f};
      if constexpr (kSoftcap) lse2 = ptx::ld_shared_f32_pair(a_lse + (8 * nt + 2 * t) * 4);
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float pv = pt[nt][e];
        float d = pv * (dpt[nt][e] - ((e & 1) ? dsum.y : dsum.x));
        if constexpr (kSoftcap) {
          // NOTE: P = 0 (masked or underflowed) has no tanh to recover; its dS is 0 anyway.
          // A NaN P fails the test and stays NaN.
          const float th = (ptx::lg2_approx_ftz(pv) + ((e & 1) ? lse2.y : lse2.x)) / p.softcap_log2;
          d = pv == 0.f ? 0.f : d * (1.f - th * th);
        }
        dpt[nt][e] = d;
      }
    }
  }

  // ---- Deterministic mode: additions into a shared output tile in a fixed order. A counter
  // in global memory per tile holds how many turns have added so far; a CTA adds once the
  // counter holds its turn, then moves it on. Every earlier turn belongs to a tile with a
  // smaller scheduler number, which its CTA has finished or will finish without waiting on
  // this one (CTAs walk their tiles in increasing order and the persistent grid is resident),
  // so every wait ends, provided a CTA never waits while it holds a turn unpassed.
  __device__ __forceinline__ static bool turn_leader(int wg) {
    return wg == 0 && (threadIdx.x & 127) == 0;
  }
  /// Both warpgroups: returns once *at == turn (the leader polls with acquire loads; its warp
  /// reconverges before the barrier).
  __device__ __forceinline__ static void wait_turn(const int* at, int turn, int wg) {
    if (turn_leader(wg)) {
      while (ptx::ld_acquire_gpu(at) != turn) {
      }
    }
    __syncwarp();
    ptx::named_barrier_sync(static_cast<uint32_t>(BwdBarrier::kConsumers), Tr::kConsumerThreads);
  }
  /// Both warpgroups: makes this thread's additions visible, then moves *at to `next`.
  __device__ __forceinline__ static void pass_turn(int* at, int next, int wg) {
    ptx::fence_acq_rel_gpu();
    ptx::named_barrier_sync(static_cast<uint32_t>(BwdBarrier::kConsumers), Tr::kConsumerThreads);
    if (turn_leader(wg)) ptx::st_release_gpu(at, next);
  }

  /// This warp's dQ [16 rows x 8 kNT columns] (times `scale`) into columns [col0, ...) of the
  /// shared dQ tile (the caller waited for dq_empty).
  template <int kNT>
  __device__ __forceinline__ static void write_dq(Storage& st, const float (&dq)[kNT][4],
                                                  float scale, int col0, int warp, int lane) {
    using Tile = typename Tr::DqTile;
    const int g = lane >> 2, t = lane & 3;
    // NOTE: from this thread's first element (16 warp + g, col0 + 2 t), col0 a multiple of 32:
    // Tile::step8 within a 32-column atom, immediates for the next atom and the rows 8 on.
    // ptxas had taken all 16 addresses through the swizzle in every tile (about 90 of the hd 64
    // loop's 700 instructions).
    const uint32_t first = ptx::cvta_to_shared(st.dq()) + Tile::offset(16 * warp + g, col0 + 2 * t);
#pragma unroll
    for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
      for (int hi = 0; hi < 2; ++hi) {
        const uint32_t at =
            Tile::step8(first, nt & 3) + (nt >> 2) * Tile::kAtomBytes + 8 * 128 * hi;
        ptx::st_shared_f32x2(at, dq[nt][2 * hi] * scale, dq[nt][2 * hi + 1] * scale);
      }
  }
  /// The written dQ tile -> the writer (dq_full).
  __device__ __forceinline__ static void publish_dq(Storage& st, PipelineState<1>& ring) {
    ptx::fence_proxy_async_shared();  // the stores -> visible to the TMA reductions
    Barrier::at(&st.dq_full).arrive();
    ring.advance();
  }
  /// write_dq once the writer has read the previous tile, then publish_dq.
  template <int kNT>
  __device__ __forceinline__ static void store_dq(Storage& st, PipelineState<1>& ring,
                                                  const float (&dq)[kNT][4], float scale, int col0,
                                                  int warp, int lane) {
    Barrier::at(&st.dq_empty).wait(ring.empty_parity());
    write_dq(st, dq, scale, col0, warp, lane);
    publish_dq(st, ring);
  }

  __device__ static void run(const BwdParamsSm90& P, Storage& st, int wg) {
    const BwdParams& p = P.p;
    const int lane = threadIdx.x & 31, warp = (threadIdx.x >> 5) & 3;
    const int key_warp0 = 64 * wg + 16 * warp;  // first key of this warp's dK / dV rows
    PipelineState<Tr::kKvStages> kv;
    PipelineState<Tr::kStages> q;
    PipelineState<1> dq_ring;  // the shared dQ tile (bwd_ws_dq_writer.cuh)
    int ds_buf = 0;            // dS^T buffers alternate per tile (see the barrier below)

    for_each_bwd_tile(P.sched, p, [&](const BwdTile& tile) {
      const FfaWorkItem& item = tile.item;
      const int head = tile.head;
      const int c0 = item.block_start;

      // NOTE: above head dim 128 (D passes) the addresses are taken per use: hoisted, the 16
      // k-steps' descriptors of K and Q held registers across the walk and spilled.
      const auto addr = [](const void* at) {
        return kD > 128 ? ptx::shared_addr_per_use(at) : ptx::cvta_to_shared(at);
      };
      const auto a_k = [&] { return addr(st.k[kv.index]); };
      const auto a_v = [&] { return addr(st.v[kv.index]); };
      Barrier::at(&st.full_kv[kv.index]).wait(kv.full_parity());
      float s_t[kNS][4], dp_t[kNS][4];             // S^T, dP^T: [16 keys x 64 rows] of this warp
      uint32_t pa[kBM / 16][4], dsa[kBM / 16][4];  // P^T, dS^T as A fragments (k = rows)
      float dq[Tr::kDqN / 8][4];                   // dQ [16 rows x kDqN columns] of this warp

      uint32_t kf[Tr::kScoresRs ? kD / 16 : 1][4], vf[Tr::kScoresRs ? kD / 16 : 1][4];
      if constexpr (Tr::kScoresRs) {  // K_w, V_w as A fragments for the item's tiles
        load_frags(kf, a_k(), key_warp0, lane);
        load_frags(vf, a_v(), key_warp0, lane);
      }
      // One walk over the item's query tiles per D pass (one walk from column 0 unless
      // Tr::kDPasses), dK / dV of the walk's columns [col0, col0 + kGradCols).
      for_each_d_pass<Tr>([&](int col0) {
        float dk[kNO][4], dv[kNO][4];  // [16 keys x kGradCols] of this warp, fp32 (wgmma layout)
        bool fresh = true;             // dK / dV hold nothing yet
        RowTiles<kBM> rows(p.segs, item, p.deterministic != 0);  // the writer's walk

        // S^T and dP^T of a query tile whose Q and dO are at a_q, a_do.
        const auto issue_scores = [&](uint32_t a_q, uint32_t a_do) {
          ptx::wgmma_fence();
          if constexpr (Tr::kScoresRs) {
            issue_transposed(s_t, kf, QTile::k_major(a_q, 0));
            issue_transposed(dp_t, vf, QTile::k_major(a_do, 0));
          } else {
            issue_transposed(s_t, KvTile::k_major(a_k(), 64 * wg), QTile::k_major(a_q, 0));
            issue_transposed(dp_t, KvTile::k_major(a_v(), 64 * wg), QTile::k_major(a_do, 0));
          }
        };
        // P^T and dS^T of the tile in stage q at `rows` as A fragments, once its S^T and dP^T
        // were issued.
        const auto scores_to_frags = [&](const SegmentMask& mask) {
          // The row statistics start at row Tr::stat_row0(c0) (bwd_ws_traits.cuh: kStatRows).
          const uint32_t stat = (rows.c0 - Tr::stat_row0(rows.c0)) * 4;
          const uint32_t a_lse = ptx::cvta_to_shared(st.lse2[q.index]) + stat;
          const uint32_t a_dsum = ptx::cvta_to_shared(st.dsum[q.index]) + stat;
          ptx::wgmma_wait_group<1>();  // S^T (dP^T may still run)
          ptx::fence_acc(s_t);
          probs(s_t, p, mask, a_lse, rows.c0, c0 + key_warp0, lane);
          ptx::wgmma_wait_group<0>();  // dP^T
          ptx::fence_acc(dp_t);
          // NOTE: dV is issued after dS^T is computed, not while: with P^T's fragments and dV in
          // flight during it, the live registers exceed the budget and ptxas serialises the
          // products (C7511).
          dscores(dp_t, s_t, p, a_lse, a_dsum, lane);
          acc_to_a<Tr::kElem>(reinterpret_cast<float(&)[1][kNS][4]>(s_t),
                              reinterpret_cast<uint32_t(&)[1][kBM / 16][4]>(pa));
          acc_to_a<Tr::kElem>(reinterpret_cast<float(&)[1][kNS][4]>(dp_t),
                              reinterpret_cast<uint32_t(&)[1][kBM / 16][4]>(dsa));
        };
        // This warpgroup's dS^T to shared memory for dQ, then the barrier after which both
        // warpgroups' are there. Fragment [kk][j] is key g + 8 (j & 1), rows 16 kk + 8 (j >> 1)
        // + 2 t, i.e. row g, columns 2 t of the 8 x 8 matrix at keys 8 (j & 1), rows 16 kk + 8
        // (j >> 1): with stmatrix, one per kk (four per tile, not sixteen 4-byte stores; our
        // consumers issue twice cuDNN's LSU work, bench/NOTES.md v31).
        const auto store_ds = [&](uint32_t a_ds) {
          const int m = lane >> 3;  // the matrix whose row lane % 8 this lane addresses
#pragma unroll
          for (int kk = 0; kk < kBM / 16; ++kk) {
            const int kr = key_warp0 + (lane & 7) + 8 * (m & 1), col = 16 * kk + 8 * (m >> 1);
            ptx::stmatrix_x4(a_ds + DsTile::offset(kr, col), dsa[kk]);
          }
          ptx::fence_proxy_async_shared();  // the stores -> visible to wgmma's operand reads
          // NOTE: both warpgroups' dS^T are needed by each dQ. With two buffers, a warpgroup
          // passes this barrier only after the other finished its previous tile (waits
          // included), so a buffer is rewritten two tiles later, after every product that read
          // it (one buffer, Tr::kDPass: see the loop below).
          ptx::named_barrier_sync(static_cast<uint32_t>(BwdBarrier::kDsReady),
                                  Tr::kConsumerThreads);
        };
        // dV, dQ and dK of the tile in stage q (issued, not waited for).
        const auto issue_grads = [&]() {
          const uint32_t a_q = ptx::cvta_to_shared(st.q[q.index]);
          const uint32_t a_do = ptx::cvta_to_shared(st.dout[q.index]);
          ptx::wgmma_fence();
          issue_grad(dv, pa, QTile::mn_major(a_do, col0), fresh);
          store_ds(ptx::cvta_to_shared(st.ds(ds_buf)));
          ptx::wgmma_fence();
          issue_dq(dq, ptx::cvta_to_shared(st.ds(ds_buf)), a_k(), col0, wg);
          // dK last: dQ is handed on while dK runs.
          issue_grad(dk, dsa, QTile::mn_major(a_q, col0), fresh);
          fresh = false;
        };
        // Once dV and dQ completed: dQ to the writer.
        const auto hand_dq = [&]() {
          ptx::fence_acc(dq);
          ptx::fence_acc(dv);
          ptx::fence_frag(pa);
          store_dq(st, dq_ring, dq, p.scale, Tr::kDqN * wg, warp, lane);
        };
        // Once dK completed: the tile's query stage back to the producer.
        const auto release_q = [&]() {
          ptx::fence_acc(dk);
          ptx::fence_frag(dsa);
          release(st.empty_q[q.index], lane);
          q.advance();
          ds_buf ^= 1;
        };

        // A walk per query head of the tile (BwdParams::pack_heads); dK / dV sum over them.
        // NOTE: one loop over all the walks' tiles: a loop of walks around the tiles' loop made
        // ptxas spill 128 bytes at head dim 128.
        int walks_left = p.pack_heads;
        do {
          const SegmentMask mask = SegmentMask::load(p.segs + rows.seg);
          Barrier::at(&st.full_q[q.index]).wait(q.full_parity());
          issue_scores(addr(st.q[q.index]), addr(st.dout[q.index]));
          scores_to_frags(mask);
          if constexpr (Tr::kDPass) {
            // One dS^T buffer, in the dQ tile's memory: dV and dK first (the last readers of
            // the single Q / dO stage, released as soon as they complete, so the next tile
            // loads during dQ), then dS^T once the writer has read the last dQ tile (dq_empty),
            // then dQ; the tile's dQ overwrites dS^T once both warpgroups' dQ read it (kDqRead).
            ptx::wgmma_fence();
            issue_grad(dv, pa, QTile::mn_major(addr(st.dout[q.index]), col0), fresh);
            issue_grad(dk, dsa, QTile::mn_major(addr(st.q[q.index]), col0), fresh);
            fresh = false;
            Barrier::at(&st.dq_empty).wait(dq_ring.empty_parity());
            store_ds(addr(st.ds(0)));
            ptx::wgmma_fence();
            issue_dq(dq, addr(st.ds(0)), a_k(), col0, wg);
            ptx::wgmma_wait_group<1>();  // dV, dK
            ptx::fence_acc(dv);
            ptx::fence_frag(pa);
            release_q();
            ptx::wgmma_wait_group<0>();  // dQ
            ptx::fence_acc(dq);
            ptx::named_barrier_sync(static_cast<uint32_t>(BwdBarrier::kDqRead),
                                    Tr::kConsumerThreads);
            write_dq(st, dq, p.scale, Tr::kDqN * wg, warp, lane);
            publish_dq(st, dq_ring);
          } else {
            issue_grads();
            ptx::wgmma_wait_group<1>();  // dV, dQ
            hand_dq();
            ptx::wgmma_wait_group<0>();  // dK
            release_q();
          }
        } while (rows.next(p.segs) || (Tr::kPackHeads && --walks_left > 0 &&
                                       (rows.reset(p.segs, item, p.deterministic != 0), true)));
        if (col0 + Tr::kGradCols == kD) {  // the item's last walk: K / V back to the producer
          release(st.empty_kv[kv.index], lane);
          kv.advance();
        }
        const auto store = [&] {
          // A piece of a cut tile whose dK / dV rows have one 16-bit owner: its partial to its
          // slot (bwd_cut.cuh). Cuts only in kernels of one key pass (the host plans them so).
          if constexpr (Tr::kPasses == 1) {
            if (p.dkv_store && tile.item_index >= p.num_items) {
              store_cut_partial<kD / 8, kBN / 16>(p.cut_partials, tile.item_index - p.num_items,
                                                  4 * wg + warp, col0 / 8, dk, dv, lane);
              return;
            }
          }
          epilogue(p, item, head, c0 + key_warp0, col0, dk, dv, lane);
        };
        // (D passes run outside the deterministic mode: bwd_ws_launch.cuh.)
        if (!Tr::kDPass && p.deterministic && !p.dkv_store) {
          // The query heads of a kv head add into the same dK / dV rows: in head order.
          const int kv_head = head / p.heads_per_kv;
          int* at = p.dkv_turn + tile.item_index * (p.num_heads_q / p.heads_per_kv) + kv_head;
          const int turn = head % p.heads_per_kv;
          wait_turn(at, turn, wg);  // the warpgroups own disjoint key rows: side by side
          store();
          pass_turn(at, turn + 1, wg);
        } else {
          store();
        }
      });
      MAGI_BWD_MARK(threadIdx.x == 128, bwd_mark_tile(tile.item_index));
    });
    MAGI_BWD_MARK(threadIdx.x == 128, bwd_mark_end());
  }

  /// dK (scaled by softmax_scale) and dV of this warp's keys, columns [col0, col0 + 8 kNT):
  /// stored in q's dtype when every key row has one writer (BwdParams::dkv_store), else added
  /// into the fp32 accumulators.
  template <int kNT>
  __device__ __forceinline__ static void epilogue(const BwdParams& p, const FfaWorkItem& item,
                                                  int head, int key0, int col0,
                                                  const float (&dk)[kNT][4],
                                                  const float (&dv)[kNT][4], int lane) {
    const int kv_head = head / p.heads_per_kv;
    if (p.dkv_store) {
      store_dkv_rows<Tr::kElem>(p, kv_head, key0, item.block_end, col0, dk, dv, lane);
      return;
    }
    red_add_tile(p.dk + kv_head * p.dk_head_stride, p.dk_row_stride, key0, item.block_end, col0,
                 reinterpret_cast<const float(&)[1][kNT][4]>(dk), p.scale, lane);
    red_add_tile(p.dv + kv_head * p.dv_head_stride, p.dv_row_stride, key0, item.block_end, col0,
                 reinterpret_cast<const float(&)[1][kNT][4]>(dv), 1.f, lane);
  }
  /// The same for one of the two: dK (kDk) or dV, rows below `end` (split-D, where dK's and
  /// dV's columns per warpgroup may differ: bwd_ws_consumer_split_d.cuh).
  template <bool kDk, int kNT>
  __device__ __forceinline__ static void store_grad(const BwdParams& p, int kv_head, int key0,
                                                    int end, int col0, const float (&acc)[kNT][4],
                                                    int lane) {
    const float scale = kDk ? p.scale : 1.f;
    const int64_t head_stride = kDk ? p.dk_head_stride : p.dv_head_stride;
    const int64_t row_stride = kDk ? p.dk_row_stride : p.dv_row_stride;
    if (p.dkv_store) {
      T* base = static_cast<T*>(kDk ? p.dk_store : p.dv_store) + kv_head * head_stride;
      store_rows16<Tr::kElem>(base, row_stride, key0, end, col0, acc, scale, lane);
      return;
    }
    float* base = (kDk ? p.dk : p.dv) + kv_head * head_stride;
    red_add_tile(base, row_stride, key0, end, col0,
                 reinterpret_cast<const float(&)[1][kNT][4]>(acc), scale, lane);
  }
};

}  // namespace magi::cuda::sm90
