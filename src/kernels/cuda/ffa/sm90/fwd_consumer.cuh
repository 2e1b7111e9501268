// Consumers of the Hopper forward kernel: two warpgroups, each owning 64 query rows of the
// tile. Per key tile j (after the first), in this warpgroup's tensor-core turn:
//   S_j = Q K_j^T            wgmma SS (Q and K from shared memory)
//   O  += P_{j-1} V_{j-1}    wgmma RS (P in registers, V MN-major in shared memory)
// then, while O += P V runs: mask S_j, softmax statistics and P_j = 2^(S_j - max); after it:
// O *= alpha (only when a row max moved) and P_j to 16-bit A fragments. The last P V follows
// the loop; the epilogue writes out/lse (or merges into the fp32 accumulators).
#pragma once

#include <cstdint>

#include "kernels/cuda/ffa/fwd_epilogue.cuh"
#include "kernels/cuda/ffa/mask.cuh"
#include "kernels/cuda/ffa/sm90/fwd_params.h"
#include "kernels/cuda/ffa/sm90/fwd_shared_storage.cuh"
#include "kernels/cuda/ffa/sm90/key_tiles.h"
#include "kernels/cuda/ffa/sm90/mma_turns.cuh"
#include "kernels/cuda/ffa/sm90/pipeline.cuh"
#include "kernels/cuda/ffa/softmax.cuh"
#include "kernels/cuda/ffa/warp_mma.cuh"
#include "kernels/cuda/ptx/shared.cuh"
#include "kernels/cuda/ptx/wgmma.cuh"

namespace magi::cuda::sm90 {

template <class Tr, Softcap kCap>
struct FwdConsumer {
  using Storage = FwdSharedStorage<Tr>;
  static constexpr bool kBf16 = Tr::kElem == Elem::kBf16;
  static constexpr int kD = Tr::kHeadDim, kBN = Tr::kBlockN;
  static constexpr int kNS = kBN / 8;  // n8 column blocks of S per thread (rows g, g + 8)
  static constexpr int kNO = kD / 8;   // n8 column blocks of O per thread
  using QOperand = KMajorSw128<Tr::QTile::kAtomBytes>;
  using KOperand = KMajorSw128<Tr::KvTile::kAtomBytes>;

  // S [64 x kBN] = Q [64 x D] K^T: D / 16 wgmma k-steps.
  __device__ __forceinline__ static void issue_qk(float (&s)[kNS][4], QOperand q, KOperand k) {
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
      ptx::Wgmma<kBN, kBf16>::template ss<0, 0>(s, q.advance_k(kk).bits, k.advance_k(kk).bits,
                                                kk > 0);
    }
    ptx::wgmma_commit_group();
  }
  // O [64 x D] += P [64 x kBN] V [kBN x D]: kBN / 16 wgmma k-steps.
  __device__ __forceinline__ static void issue_pv(float (&o)[kNO][4],
                                                  const uint32_t (&pa)[kBN / 16][4],
                                                  MnMajorSw128 v) {
#pragma unroll
    for (int kk = 0; kk < kBN / 16; ++kk) {
      ptx::Wgmma<kD, kBf16>::template rs<1>(o, pa[kk], v.advance_k(kk).bits, 1);
    }
    ptx::wgmma_commit_group();
  }
  /// Mask and softmax statistics of one S tile: S becomes P (fp32). Returns whether O must be
  /// rescaled by `alpha`. The fences keep this work above the wait that follows, so it
  /// overlaps the P V product in flight (the compiler would otherwise sink it below).
  __device__ __forceinline__ static bool score_step(float (&s)[1][kNS][4], float (&alpha)[1][2],
                                                    OnlineSoftmax<1>& softmax,
                                                    const ScoreTransform& score,
                                                    const SegmentMask& mask, int warp_row0,
                                                    int c0, float sm_scale, int lane) {
    transform_and_mask<1, kNS, kCap == Softcap::kOn>(s, score, mask, warp_row0, c0, 16, kBN,
                                                     lane);
    const bool moved = softmax.update_scores(s, alpha, sm_scale);
    ptx::fence_acc(s[0]);
#pragma unroll
    for (int hi = 0; hi < 2; ++hi) {
      ptx::fence_value(softmax.row_sum[0][hi]);
      ptx::fence_value(alpha[0][hi]);
    }
    return moved;
  }
  /// One arrival per warp on an "empty" barrier: this warpgroup's reads of the stage are done.
  __device__ __forceinline__ static void release(uint64_t& bar, int lane) {
    if (lane == 0) Barrier::at(&bar).arrive();
  }

  __device__ static void run(const FwdParamsSm90& P, Storage& st, int wg) {
    const FwdParams& p = P.p;
    const int lane = threadIdx.x & 31, warp = (threadIdx.x >> 5) & 3;
    const ScoreTransform score{p.scale_log2, p.scale_cap, p.softcap_log2, p.use_softcap != 0};
    const float sm_scale = kCap == Softcap::kOn ? 1.f : score.scale_log2;
    const QOperand q_op = Tr::QTile::k_major(ptx::cvta_to_shared(st.q), 64 * wg);
    const uint32_t a_k = ptx::cvta_to_shared(st.k[0]);
    const uint32_t a_v = ptx::cvta_to_shared(st.v[0]);
    const MmaTurns turns{wg};
    turns.start();
    PipelineState<1> q_state;
    PipelineState<Tr::kStages> kv;

    for (int round = 0;; ++round) {
      const int tile = P.sched.tile(blockIdx.x, round);
      if (tile < 0) break;
      const FfaWorkItem item = p.items[P.sched.item_of(tile)];
      const int head = P.sched.head_of(tile);
      const int wg_row0 = item.block_start + 64 * wg;
      const int warp_row0 = wg_row0 + 16 * warp;  // rows warp_row0 + g, + g + 8 in this thread

      float o[1][kNO][4];  // O [16 rows x D] of this warp, fp32 (wgmma accumulator layout)
      zero_acc(o);
      OnlineSoftmax<1> softmax;
      softmax.init();
      if (item.seg_begin < item.seg_end) {
        Barrier::at(&st.full_q).wait(q_state.full_parity());
        q_state.advance();

        float s[1][kNS][4];           // S [16 rows x kBN] of this warp, fp32
        uint32_t pa[1][kBN / 16][4];  // P [16 rows x kBN] as wgmma A fragments, 16-bit
        KeyTiles<kBN> keys(p.segs, item);
        // NOTE: the segment is read before each tile's products are issued, so its load
        // latency hides behind them (segments change rarely: L1 hits).
        SegmentMask mask = SegmentMask::load(p.segs + keys.seg);
        // Tile 0: S only.
        Barrier::at(&st.full_k[kv.index]).wait(kv.full_parity());
        turns.acquire();
        ptx::wgmma_fence();
        issue_qk(s[0], q_op, Tr::KvTile::k_major(a_k + kv.index * Tr::kKvBytes, 0));
        turns.release();
        ptx::wgmma_wait_group<0>();
        ptx::fence_acc(s[0]);
        release(st.empty_k[kv.index], lane);
        KeyTiles<kBN> next = keys;
        bool more = next.next(p.segs);
        if (!more) release(st.empty_q, lane);
        float alpha0[1][2];
        score_step(s, alpha0, softmax, score, mask, warp_row0, keys.c0, sm_scale, lane);
        acc_to_a<Tr::kElem>(s, pa);  // O is still 0: nothing to rescale
        PipelineState<Tr::kStages> pv = kv;  // the stage whose V the pending P multiplies
        kv.advance();
        while (more) {
          keys = next;
          mask = SegmentMask::load(p.segs + keys.seg);
          Barrier::at(&st.full_k[kv.index]).wait(kv.full_parity());
          turns.acquire();
          ptx::wgmma_fence();
          issue_qk(s[0], q_op, Tr::KvTile::k_major(a_k + kv.index * Tr::kKvBytes, 0));
          Barrier::at(&st.full_v[pv.index]).wait(pv.full_parity());
          issue_pv(o[0], pa[0], Tr::KvTile::mn_major(a_v + pv.index * Tr::kKvBytes, 0));
          turns.release();
          ptx::wgmma_wait_group<1>();  // S_j done (groups complete in order), P V may run on
          ptx::fence_acc(s[0]);
          release(st.empty_k[kv.index], lane);
          more = next.next(p.segs);
          if (!more) release(st.empty_q, lane);
          float alpha[1][2];
          const bool moved =
              score_step(s, alpha, softmax, score, mask, warp_row0, keys.c0, sm_scale, lane);
          // O += P_{j-1} V_{j-1} done: O and P's registers free.
          ptx::wgmma_wait_group_new_block<0>(more);
          ptx::fence_acc(o[0]);
          ptx::fence_frag(pa[0]);
          release(st.empty_v[pv.index], lane);
          if (moved) softmax.rescale(o, alpha);
          acc_to_a<Tr::kElem>(s, pa);
          pv = kv;
          kv.advance();
        }
        Barrier::at(&st.full_v[pv.index]).wait(pv.full_parity());
        ptx::wgmma_fence();
        issue_pv(o[0], pa[0], Tr::KvTile::mn_major(a_v + pv.index * Tr::kKvBytes, 0));
        ptx::wgmma_wait_group<0>();
        ptx::fence_acc(o[0]);
        ptx::fence_frag(pa[0]);
        release(st.empty_v[pv.index], lane);
      }
      fwd_epilogue(p, head, warp_row0, item.block_end, o, softmax, sm_scale, lane);
    }
  }
};

}  // namespace magi::cuda::sm90
