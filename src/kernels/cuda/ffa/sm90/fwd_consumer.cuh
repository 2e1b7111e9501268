// Consumers of the Hopper forward kernel: two or three warpgroups, each owning 64 query rows of
// every tile. A warpgroup walks the CTA's work stream (all key tiles of all its items,
// work_stream.h) one step behind itself: in step j, in its tensor-core turn,
//   S_j = Q K_j^T            wgmma SS (Q and K from shared memory)
//   O  += P_{j-1} V_{j-1}    wgmma RS (P in registers, V MN-major in shared memory)
// then, while O += P V runs: mask S_j, softmax statistics and P_j = 2^(S_j - max); after it:
// O *= alpha (only when a row max moved), or, when tile j starts a new item, the epilogue of
// the previous one (out/lse, or a merge into the fp32 accumulators; the item's first P V then
// overwrites O); and P_j to 16-bit A fragments. Tile j may belong to the next item, so items
// meet without a bubble. Where O, S and P of two tiles do not fit the registers (FwdTraits::
// kOverlap: 192-row items at hd 128), a warpgroup instead runs S_j, its softmax and P_j V_j in
// turn, and the other two warpgroups' products cover its softmax. 256-row items (development)
// give each warpgroup two 64-row halves that overlap each other's products (run_halves).
#pragma once

#include <cstdint>
#include <type_traits>

#include "kernels/cuda/ffa/fwd_epilogue.cuh"
#include "kernels/cuda/ffa/mask.cuh"
#include "kernels/cuda/ffa/sm90/fwd_params.h"
#include "kernels/cuda/ffa/sm90/fwd_shared_storage.cuh"
#include "kernels/cuda/ffa/sm90/fwd_split.cuh"
#include "kernels/cuda/ffa/sm90/fwd_timeline.cuh"
#include "kernels/cuda/ffa/sm90/mma_turns.cuh"
#include "kernels/cuda/ffa/sm90/pipeline.cuh"
#include "kernels/cuda/ffa/sm90/work_stream.h"
#include "kernels/cuda/ffa/softmax.cuh"
#include "kernels/cuda/ffa/warp_mma.cuh"
#include "kernels/cuda/ptx/cluster.cuh"
#include "kernels/cuda/ptx/shared.cuh"
#include "kernels/cuda/ptx/wgmma.cuh"

namespace magi::cuda::sm90 {

template <class Tr, Softcap kCap, TrackMax kTrack>
struct FwdConsumer {
  using Softmax = OnlineSoftmax<1, kTrack>;
  using Storage = FwdSharedStorage<Tr>;
  static constexpr bool kBf16 = Tr::kElem == Elem::kBf16;
  static constexpr int kD = Tr::kHeadDim, kDv = Tr::kHeadDimV, kBN = Tr::kBlockN;
  static constexpr int kNS = kBN / 8;  // n8 column blocks of S per thread (rows g, g + 8)
  static constexpr int kNO = kDv / 8;  // n8 column blocks of O per thread
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
  // O [64 x Dv] (+)= P [64 x kBN] V [kBN x Dv]: kBN / 16 wgmma k-steps; `fresh` overwrites O
  // (the first product of an item), so no ordinary instruction ever defines O.
  __device__ __forceinline__ static void issue_pv(float (&o)[kNO][4],
                                                  const uint32_t (&pa)[kBN / 16][4], MnMajorSw128 v,
                                                  bool fresh) {
#pragma unroll
    for (int kk = 0; kk < kBN / 16; ++kk) {
      ptx::Wgmma<kDv, kBf16>::template rs<1>(o, pa[kk], v.advance_k(kk).bits, kk > 0 || !fresh);
    }
    ptx::wgmma_commit_group();
  }
  // O [64 x Dv] (+)= P V with P from this warpgroup's shared tile (FwdTraits::kPSmem).
  __device__ __forceinline__ static void issue_pv_ss(float (&o)[kNO][4],
                                                     KMajorSw128<Tr::PTile::kAtomBytes> pm,
                                                     MnMajorSw128 v, bool fresh) {
#pragma unroll
    for (int kk = 0; kk < kBN / 16; ++kk) {
      ptx::Wgmma<kDv, kBf16>::template ss<0, 1>(o, pm.advance_k(kk).bits, v.advance_k(kk).bits,
                                                kk > 0 || !fresh);
    }
    ptx::wgmma_commit_group();
  }
  /// Mask and softmax statistics of one S tile: S becomes P (fp32). Returns whether O must be
  /// rescaled by `alpha`. The fences keep the front end from sinking this work below the wait
  /// that follows (ptxas is kept from it by the wait's own branch, see run()), so it overlaps
  /// the P V product in flight. Where Tr::kSummed, the reference is checked by the row sums
  /// (OnlineSoftmax::update_scores_summed), which takes S again from q and k (rescore) on
  /// a tile whose exponentials overflowed. kFreshRows: every row of `softmax` is known to have
  /// no reference yet (a stream's first tile), where the summed way takes the max-first one.
  template <bool kFreshRows = false>
  __device__ __forceinline__ static bool score_step(float (&s)[1][kNS][4], float (&alpha)[1][2],
                                                    Softmax& softmax, const ScoreTransform& score,
                                                    const SegmentMask& mask, int warp_row0, int c0,
                                                    float sm_scale, float slack, int lane,
                                                    const FwdParams& p, const WorkStream<kBN>& ws) {
    transform_and_mask<1, kNS, kCap == Softcap::kOn>(s, score, mask, warp_row0, c0, 16, kBN, lane);
    bool moved;
    // NOTE: kFreshRows: the summed way's code at the first tile's call site would be dead
    // (fresh rows take the max-first way), but inlined all the same (Tr::kFreshFirst). At 160
    // registers a consumer softcap keeps the max-first way (the summed one spilled 12 bytes).
    if constexpr (!Tr::kSummed || (kFreshRows && Tr::kFreshFirst) ||
                  (!Tr::kFreshFirst && kCap == Softcap::kOn)) {
      moved = softmax.update_scores(s, alpha, sm_scale, slack);
    } else {
      moved = softmax.update_scores_summed(s, alpha, sm_scale, slack, [&](float(&x)[1][kNS][4]) {
        rescore(p, ws.head(), x, score, mask, warp_row0, c0, lane);  // head: not on the way
      });
    }
    ptx::fence_acc(s[0]);
#pragma unroll
    for (int hi = 0; hi < 2; ++hi) {
      ptx::fence_value(softmax.row_sum[0][hi]);
      ptx::fence_value(alpha[0][hi]);
    }
    return moved;
  }
  /// S of this warp's cells once more, from q and k in global memory, transformed and masked
  /// as score_step() does: the rare path of a tile whose exponentials overflowed (a score 128
  /// log2 units above its row's reference). Slow, and off every other path; rows and keys past
  /// the tensors' ends are read clamped (those cells are masked). Inlined: a call would need s
  /// in memory.
  __device__ __forceinline__ static void rescore(const FwdParams& p, int head,
                                                 float (&s)[1][kNS][4], const ScoreTransform& score,
                                                 const SegmentMask& mask, int warp_row0, int c0,
                                                 int lane) {
    using T = typename Tr::T;
    using T2 = typename ElemInfo<Tr::kElem>::T2;
    const int g = lane >> 2, t = lane & 3;
    const T2* q[2];
#pragma unroll
    for (int hi = 0; hi < 2; ++hi) {
      const int64_t row = min(warp_row0 + g + 8 * hi, p.total_q - 1);
      q[hi] = reinterpret_cast<const T2*>(static_cast<const T*>(p.q) + row * p.q_row_stride +
                                          head * p.q_head_stride);
    }
    const T* k = static_cast<const T*>(p.k) + (head / p.heads_per_kv) * p.k_head_stride;
    // NOTE: cell by cell (a loop over the head dim per key): a loop over the head dim around
    // all cells held every cell's key address, and spilled. The loop over the cells stays
    // rolled (the code one turn's, bench/NOTES.md v67); registers cannot be indexed by the
    // turn, so each turn shifts its two values in at the end of the cells (order nt, e) as all
    // move down one (2 x 2 kNS moves): after 2 kNS turns each is in its place.
#pragma unroll 1
    for (int c = 0; c < 2 * kNS; ++c) {
      // The dot products of the thread's two rows with the key of cell (c / 2, c % 2).
      const int64_t key = min(c0 + 8 * (c / 2) + 2 * t + c % 2, p.total_k - 1);
      const T2* kr = reinterpret_cast<const T2*>(k + key * p.k_row_stride);
      float dot[2] = {0.f, 0.f};
#pragma unroll 1
      for (int d = 0; d < kD / 2; ++d) {
        const float2 b = to_float2(kr[d]);
#pragma unroll
        for (int hi = 0; hi < 2; ++hi) {
          const float2 a = to_float2(q[hi][d]);
          dot[hi] = fmaf(a.x, b.x, fmaf(a.y, b.y, dot[hi]));
        }
      }
#pragma unroll
      for (int hi = 0; hi < 2; ++hi) {
#pragma unroll
        for (int j = 0; j + 1 < 2 * kNS; ++j) {
          s[0][j / 2][2 * hi + j % 2] = s[0][(j + 1) / 2][2 * hi + (j + 1) % 2];
        }
        s[0][kNS - 1][2 * hi + 1] = dot[hi];
      }
    }
    transform_and_mask<1, kNS, kCap == Softcap::kOn>(s, score, mask, warp_row0, c0, 16, kBN, lane);
  }
  /// One arrival per warp on an "empty" barrier: this warpgroup's reads of the stage are done.
  __device__ __forceinline__ static void release(uint64_t& bar, int lane) {
    if (lane == 0) Barrier::at(&bar).arrive();
  }
  /// release() of a K / V stage, in a pair (FwdParamsSm90::pair) on the other CTA's barrier
  /// too: its producer loads into this CTA's stage as well.
  /// NOTE: `pair` is read from the parameters and the rank from its special register at each
  /// use, so the pair costs the consumers no register across the loop.
  __device__ __forceinline__ static void release_kv(uint64_t& bar, int lane, const int32_t& pair) {
    if (lane != 0) return;
    Barrier::at(&bar).arrive();
    if (Tr::kPairs && pair != 0) {
      ptx::mbarrier_arrive_cluster(
          ptx::mapa_shared(ptx::cvta_to_shared(&bar), ptx::cluster_ctarank() ^ 1u));
    }
  }

  /// Shared addresses of the tiles. Above head dim 128 they are taken per use
  /// (ptx::shared_addr_per_use): hoisted, Q's 16 k-steps of 64-bit descriptors held registers
  /// for the whole stream and spilled.
  __device__ __forceinline__ static uint32_t addr(const void* at) {
    return Tr::kHeadDim > 128 ? ptx::shared_addr_per_use(at) : ptx::cvta_to_shared(at);
  }
  /// The first row of this warp in a block: warpgroup wg owns 64 Tr::kHalves rows (half h:
  /// + 64 h).
  __device__ __forceinline__ static int first_row(int wg) {
    return 64 * Tr::kHalves * wg + 16 * ((threadIdx.x >> 5) & 3);
  }
  /// An item without keys: out = 0 and lse = -inf in this warp's rows of every half.
  __device__ __forceinline__ static void write_empty(const FwdParams& p, const FfaWorkItem& it,
                                                     int head, int row_offset, int lane) {
#pragma unroll
    for (int h = 0; h < Tr::kHalves; ++h) {
      fwd_store_empty_rows<kNO>(p, head, it.block_start + row_offset + 64 * h, it.block_end, lane);
    }
  }

  /// The rows an item's epilogue writes, for this warp.
  struct Rows {
    int head, row0, row_end;  // rows row0 + g, row0 + g + 8 of this thread, below row_end
    int split;                // WorkStream::split(): -1, or a piece of a cut tile (fwd_split.cuh)
  };
  /// The end of an item's rows: the epilogue, or a cut tile's piece's partial state
  /// (fwd_split.cuh); `row16`: the rows' first within the block, over 16.
  __device__ __forceinline__ static void store_rows(const FwdParamsSm90& P, const Rows& r,
                                                    int row16, float (&acc)[1][kNO][4], Softmax& sm,
                                                    float sm_scale, int lane) {
    if (r.split >= 0) {
      // Tracked maxima merge here: the pieces' slots keep the reference (row_max), which the
      // merge kernel's epilogue reads (a lower bound of the row max).
      if constexpr (Softmax::kTracked) {
        if (P.p.max_logits != nullptr) {
          merge_max_logits(P.p, r.head, r.row0, r.row_end, sm, sm_scale, lane);
        }
      }
      fwd_split_store<kNO, Tr::kBlockM / 16>(P.split_partials, r.split, row16, acc, sm, lane);
    } else {
      fwd_epilogue(P.p, r.head, r.row0, r.row_end, acc, sm, sm_scale, lane);
    }
  }

  __device__ static void run(const FwdParamsSm90& P, Storage& st, int wg) {
    if constexpr (Tr::kHalves == 2) {
      run_halves(P, st, wg);
      return;
    }
    const FwdParams& p = P.p;
    const int lane = threadIdx.x & 31;
    const int row_offset = first_row(wg);
    const ScoreTransform score{p.scale_log2, p.scale_cap, p.softcap_log2, p.use_softcap != 0};
    const float sm_scale = kCap == Softcap::kOn ? 1.f : score.scale_log2;
    const auto write_empty = [&](const FfaWorkItem& it, int head) {
      FwdConsumer::write_empty(p, it, head, row_offset, lane);
    };
    const MmaTurns<Tr::kConsumerWarpGroups> turns{wg};
    turns.start();

    const auto finish = [&](const Rows& r, float(&acc)[1][kNO][4], Softmax& sm) {
      store_rows(P, r, row_offset / 16, acc, sm, sm_scale, lane);
      MAGI_FWD_MARK(threadIdx.x == 128, kMarkConsItem);
    };

    WorkStream<kBN> ws{P.sched, P.plan_units, P.plan_start, static_cast<int32_t>(blockIdx.x)};
    if (!ws.next_item(p.items, p.segs, write_empty)) return;
    PipelineState<Tr::kQStages> q;  // Q stage of the stream's current item
    PipelineState<Tr::kStages> kv;  // stage of the stream's current key tile
    PipelineState<Tr::kStages> pv;  // stage of the V that the pending P multiplies
    Rows rows{ws.head(), ws.item.block_start + row_offset, ws.item.block_end, ws.split()};  // O's
    float o[1][kNO][4];           // O [16 rows x D] of this warp, fp32 (wgmma layout)
    float s[1][kNS][4];           // S [16 rows x kBN] of this warp, fp32
    uint32_t pa[1][kBN / 16][4];  // P [16 rows x kBN] as wgmma A fragments, 16-bit
    Softmax softmax;              // statistics of O's item
    bool o_fresh = true;          // O holds nothing yet: the next P V overwrites it
    softmax.init();

    // S of the stream's current tile, in this warpgroup's turn; then waits for it.
    const auto wait_q = [&] { Barrier::at(&st.full_q[q.index]).wait(q.full_parity()); };
    const auto issue_s = [&] {
      Barrier::at(&st.full_k[kv.index]).wait(kv.full_parity());
      turns.acquire();
      ptx::wgmma_fence();
      issue_qk(s[0], Tr::QTile::k_major(addr(st.q[0]) + q.index * Tr::kQBytes, 64 * wg),
               Tr::KvTile::k_major(addr(st.k[0]) + kv.index * Tr::kKvBytes, 0));
    };
    // After S of the current tile completed: its K stage, and the item's Q after its last tile.
    const auto release_s = [&] {
      release_kv(st.empty_k[kv.index], lane, P.pair);
      if (ws.keys.last()) release(st.empty_q[q.index], lane);
    };

    // S of the stream's current tile alone in this warpgroup's turn, waited for, then masked and
    // softmaxed into `softmax` (score_step: whether O must be rescaled by `alpha`).
    // fresh_rows: std::true_type where `softmax` was just initialised (score_step<kFreshRows>).
    const auto s_alone = [&](float(&alpha)[1][2], auto fresh_rows) {
      const SegmentMask mask = SegmentMask::load(p.segs + ws.keys.seg);
      issue_s();
      turns.release();
      ptx::wgmma_wait_group<0>();
      ptx::fence_acc(s[0]);
      release_s();
      return score_step<decltype(fresh_rows)::value>(s, alpha, softmax, score, mask,
                                                     ws.item.block_start + row_offset, ws.keys.c0,
                                                     sm_scale, p.rescale_slack, lane, p, ws);
    };

    if constexpr (!Tr::kOverlap) {
      // Tile by tile: S, its softmax, P V, each product waited for (Tr::kOverlap). Both products
      // and both waits on every path (see the NOTE of the loop below).
      wait_q();
      while (true) {
        float alpha[1][2];
        if (s_alone(alpha, std::false_type{}) && !o_fresh) softmax.rescale(o, alpha);
        acc_to_a<Tr::kElem>(s, pa);
        Barrier::at(&st.full_v[kv.index]).wait(kv.full_parity());
        turns.acquire();
        ptx::wgmma_fence();
        issue_pv(o[0], pa[0], Tr::VTile::mn_major(addr(st.v[0]) + kv.index * Tr::kVBytes, 0),
                 o_fresh);
        turns.release();
        ptx::wgmma_wait_group<0>();
        ptx::fence_acc(o[0]);
        ptx::fence_frag(pa[0]);
        release_kv(st.empty_v[kv.index], lane, P.pair);
        o_fresh = false;
        kv.advance();
        const StreamStep step = ws.next(p.items, p.segs, write_empty);
        if (step == StreamStep::kSameItem) continue;
        finish(rows, o, softmax);
        if (step == StreamStep::kEnd) return;
        rows = {ws.head(), ws.item.block_start + row_offset, ws.item.block_end, ws.split()};
        softmax.init();
        o_fresh = true;
        q.advance();
        wait_q();
      }
    }

    // The first tile: S only.
    wait_q();
    MAGI_FWD_MARK(threadIdx.x == 128, kMarkConsQ);
    {
      float alpha[1][2];
      s_alone(alpha, std::true_type{});  // the stream's first tile: softmax.init() above
    }
    MAGI_FWD_MARK(threadIdx.x == 128, kMarkConsS);
    acc_to_a<Tr::kElem>(s, pa);
    pv = kv;
    kv.advance();

    // Steady state: S of the stream's tile and P V of the previous one in one turn.
    // NOTE: the body issues both products and waits for both on every path (ptxas serialises
    // all wgmma of a kernel whose products or waits are conditional), and each wait for P V
    // starts a branch of its own (a wait is scheduled at the top of its block: in the block of
    // the softmax it would rise above it and end the overlap).
    // One tile's turn, up to its softmax: S of the stream's current tile (the first of a new
    // item: `new_item`) and P V of the previous one issued, S waited for and softmaxed into
    // `next_softmax` (the statistics of S's item); P V may still run. Returns whether O must be
    // rescaled by `alpha`.
    const auto tile_turn = [&](bool new_item, Softmax& next_softmax, float(&alpha)[1][2]) {
      if (new_item) {
        q.advance();
        wait_q();
      }
      // NOTE: the segment is read before the products are issued, so its load latency hides
      // behind them (segments change rarely: L1 hits).
      const SegmentMask mask = SegmentMask::load(p.segs + ws.keys.seg);
      issue_s();
      Barrier::at(&st.full_v[pv.index]).wait(pv.full_parity());
      issue_pv(o[0], pa[0], Tr::VTile::mn_major(addr(st.v[0]) + pv.index * Tr::kVBytes, 0),
               o_fresh);
      o_fresh = false;
      turns.release();

      ptx::wgmma_wait_group<1>();  // S done (groups complete in order); P V may still run
      ptx::fence_acc(s[0]);
      release_s();
      next_softmax = softmax;
      if (new_item) next_softmax.init();
      return score_step(s, alpha, next_softmax, score, mask, ws.item.block_start + row_offset,
                        ws.keys.c0, sm_scale, p.rescale_slack, lane, p, ws);
    };
    // P V done: O and P's registers are free again.
    const auto wait_pv = [&] {
      ptx::wgmma_wait_group<0>();
      ptx::fence_acc(o[0]);
      ptx::fence_frag(pa[0]);
    };
    // O's item ends with this tile's P V: its epilogue; O starts the next item.
    const auto change_item = [&] {
      finish(rows, o, softmax);
      o_fresh = true;
      rows = {ws.head(), ws.item.block_start + row_offset, ws.item.block_end, ws.split()};
    };
    // The tile's end: its V stage released, S's statistics and P handed on.
    const auto tile_end = [&](const Softmax& next_softmax) {
      release_kv(st.empty_v[pv.index], lane, P.pair);
      softmax = next_softmax;
      acc_to_a<Tr::kElem>(s, pa);
      pv = kv;
      kv.advance();
    };
    // The loop of tiles breaks out at an item change, which runs after it: the tiles' code lies
    // together, the change's (the epilogue's, once per item) out of its way in the instruction
    // cache (bench/NOTES.md v51-v52: +1-6 % at 2k, hd 64).
    // The items without keys the stream passed on its way to its current unit (which has
    // keys, or ends the stream), written here rather than inside the loop of tiles: the units
    // before it back to the last with keys. NOTE: not at 160 registers a consumer (the
    // 192-row hd 64 kernel), where it spilled.
    constexpr bool kSkipAfter = Tr::kConsumerRegs >= 200;
    const auto write_skipped = [&] {
      if constexpr (kSkipAfter) {
        for (int32_t u = ws.unit - 1;; --u) {
          const int32_t tile = ws.units[u].tile;
          const FfaWorkItem it = p.items[ws.sched.item_of(tile)];
          if (it.seg_begin < it.seg_end) return;
          write_empty(it, ws.sched.head_of(tile));
        }
      }
    };
    StreamStep step;
    Softmax next_softmax;
    while (true) {
      while (true) {
        step = kSkipAfter ? ws.next(p.items, p.segs, IgnoreEmpty{})
                          : ws.next(p.items, p.segs, write_empty);
        if (step == StreamStep::kEnd) break;
        const bool new_item = step == StreamStep::kNewItem;
        float alpha[1][2];
        const bool moved = tile_turn(new_item, next_softmax, alpha);
        if (new_item) break;
        wait_pv();
        if (moved) softmax.rescale(o, alpha);
        tile_end(next_softmax);
      }
      write_skipped();
      if (step == StreamStep::kEnd) break;
      wait_pv();
      change_item();
      tile_end(next_softmax);
    }

    // The last P V and the last epilogue.
    Barrier::at(&st.full_v[pv.index]).wait(pv.full_parity());
    ptx::wgmma_fence();
    issue_pv(o[0], pa[0], Tr::VTile::mn_major(addr(st.v[0]) + pv.index * Tr::kVBytes, 0), o_fresh);
    ptx::wgmma_wait_group<0>();
    ptx::fence_acc(o[0]);
    ptx::fence_frag(pa[0]);
    release_kv(st.empty_v[pv.index], lane, P.pair);
    finish(rows, o, softmax);
    MAGI_FWD_MARK(threadIdx.x == 128, kMarkConsEnd);
  }

  /// 256-row items (Tr::kHalves == 2; development, bench/NOTES.md v47 item 7): this warpgroup
  /// owns rows [128 wg, 128 wg + 128) as two 64-row halves, each with its O and statistics, so
  /// K / V are read once per 256 rows. It walks (tile, half) steps, A then B of every key
  /// tile; in a step's turn it issues S of the step's half and P V of the step before (the
  /// other half's), and runs the step's softmax while that P V runs: the overlap of run() with
  /// the other half in place of the next tile (O of both halves, S and the P in flight live at
  /// once). An item's half A ends with the P V issued in its last tile's step B, half B with
  /// the one issued in the next step.
  __device__ static void run_halves(const FwdParamsSm90& P, Storage& st, int wg) {
    const FwdParams& p = P.p;
    const int lane = threadIdx.x & 31;
    const int row_offset = first_row(wg);  // half h: + 64 h
    const ScoreTransform score{p.scale_log2, p.scale_cap, p.softcap_log2, p.use_softcap != 0};
    const float sm_scale = kCap == Softcap::kOn ? 1.f : score.scale_log2;
    const auto write_empty = [&](const FfaWorkItem& it, int head) {
      FwdConsumer::write_empty(p, it, head, row_offset, lane);
    };
    const MmaTurns<Tr::kConsumerWarpGroups> turns{wg};
    turns.start();

    WorkStream<kBN> ws{P.sched, P.plan_units, P.plan_start, static_cast<int32_t>(blockIdx.x)};
    if (!ws.next_item(p.items, p.segs, write_empty)) return;
    PipelineState<Tr::kQStages> q;  // Q stage of the stream's current item
    PipelineState<Tr::kStages> kv;  // stage of the stream's current key tile
    PipelineState<Tr::kStages> pv;  // stage of the V that the pending P multiplies
    const auto wait_q = [&] { Barrier::at(&st.full_q[q.index]).wait(q.full_parity()); };
    // The rows of half h's O (the item it belongs to).
    const auto rows_of = [&](int h) {
      return Rows{ws.head(), ws.item.block_start + row_offset + 64 * h, ws.item.block_end,
                  ws.split()};
    };
    Rows rows[2] = {rows_of(0), rows_of(1)};
    float o[2][1][kNO][4];  // O of each half [16 rows x Dv] of this warp, fp32
    float s[1][kNS][4];     // S of the step's half [16 rows x kBN], fp32
    // P of the pending step (the other half): 16-bit A fragments, or (Tr::kPSmem) the
    // warpgroup's shared P tile, these fragments then live only while it is stored.
    uint32_t pa[1][kBN / 16][4];
    Softmax softmax[2];  // statistics of each half's O
    bool fresh[2] = {true, true};
    softmax[0].init();
    softmax[1].init();
    const auto finish = [&](int h) {
      store_rows(P, rows[h], (row_offset + 64 * h) / 16, o[h], softmax[h], sm_scale, lane);
      softmax[h].init();
      fresh[h] = true;
    };

    // O_h += P V of the pending step (its V stage waited for).
    const auto pv_product = [&](float(&oh)[kNO][4], bool fresh_h) {
      const MnMajorSw128 v = Tr::VTile::mn_major(addr(st.v[0]) + pv.index * Tr::kVBytes, 0);
      if constexpr (Tr::kPSmem) {
        issue_pv_ss(oh, Tr::PTile::k_major(addr(st.p[wg]), 0), v, fresh_h);
      } else {
        issue_pv(oh, pa[0], v, fresh_h);
      }
    };
    // S of half h of the current tile in this warpgroup's turn, with the P V of the step before
    // (the other half's P) unless `alone` (the stream's first step).
    // NOTE: `alone` is a compile-time constant: a product under a runtime condition would make
    // ptxas serialise every wgmma of the kernel.
    const auto issue = [&](auto half, auto alone_c) {
      constexpr int h = decltype(half)::value;
      constexpr bool alone = decltype(alone_c)::value;
      if (h == 0) Barrier::at(&st.full_k[kv.index]).wait(kv.full_parity());
      turns.acquire();
      ptx::wgmma_fence();
      issue_qk(s[0], Tr::QTile::k_major(addr(st.q[0]) + q.index * Tr::kQBytes, 128 * wg + 64 * h),
               Tr::KvTile::k_major(addr(st.k[0]) + kv.index * Tr::kKvBytes, 0));
      if constexpr (!alone) {
        Barrier::at(&st.full_v[pv.index]).wait(pv.full_parity());
        pv_product(o[1 - h][0], fresh[1 - h]);
        fresh[1 - h] = false;
      }
      turns.release();
    };
    // After S completed: its stages (K after half B; Q after half B of the item's last tile),
    // then the softmax of S into half h's statistics (whether O_h must be rescaled by `alpha`).
    const auto softmax_of = [&](auto half, const SegmentMask& mask, float(&alpha)[1][2]) {
      constexpr int h = decltype(half)::value;
      ptx::fence_acc(s[0]);
      if (h == 1) {
        release_kv(st.empty_k[kv.index], lane, P.pair);
        if (ws.keys.last()) release(st.empty_q[q.index], lane);
      }
      return score_step(s, alpha, softmax[h], score, mask,
                        ws.item.block_start + row_offset + 64 * h, ws.keys.c0, sm_scale,
                        p.rescale_slack, lane, p, ws);
    };
    // After the P V of the other half completed (its V stage is released after half B's).
    const auto pv_done = [&](auto half) {
      constexpr int h = decltype(half)::value;
      ptx::fence_acc(o[1 - h][0]);
      if constexpr (!Tr::kPSmem) ptx::fence_frag(pa[0]);
      if (h == 0) release_kv(st.empty_v[pv.index], lane, P.pair);
    };
    // The end of a step: P of S; the pending P V is now this half's.
    // NOTE (Tr::kPSmem): the tile is rewritten after this warp's wait for the P V that read it
    // (every path waits before close()); its stores reach the async proxy before the
    // warpgroup's barrier, after which any warp may issue the product that reads all 64 rows.
    const auto close = [&] {
      acc_to_a<Tr::kElem>(s, pa);
      if constexpr (Tr::kPSmem) {
        // Fragment [kk][j] is row g + 8 (j & 1), keys 16 kk + 8 (j >> 1) + 2 t of this warp's
        // 16 rows: the 8 x 8 matrix j of one stmatrix per kk; lane l addresses row l % 8 of
        // matrix l / 8.
        const int m = lane >> 3;
        const int r = 16 * ((threadIdx.x >> 5) & 3) + (lane & 7) + 8 * (m & 1);
        const uint32_t a_p = addr(st.p[wg]);
#pragma unroll
        for (int kk = 0; kk < kBN / 16; ++kk) {
          ptx::stmatrix_x4(a_p + Tr::PTile::offset(r, 16 * kk + 8 * (m >> 1)), pa[0][kk]);
        }
        ptx::fence_proxy_async_shared();
        ptx::named_barrier_sync(static_cast<uint32_t>(FwdBarrier::kPReady) + wg, 128);
      }
      pv = kv;
    };
    using A = std::integral_constant<int, 0>;
    using B = std::integral_constant<int, 1>;
    using Alone = std::true_type;
    using WithPv = std::false_type;

    // The stream's first step: S of half A alone.
    wait_q();
    {
      const SegmentMask mask = SegmentMask::load(p.segs + ws.keys.seg);
      issue(A{}, Alone{});
      ptx::wgmma_wait_group<0>();
      float alpha[1][2];
      softmax_of(A{}, mask, alpha);  // a fresh O: nothing to rescale
      close();
    }
    // Steady state: step B of tile t, then step A of tile t + 1.
    // NOTE: as in run(), both products and both waits on every path, each wait for P V in a
    // branch of its own (in the softmax's block ptxas would hoist it above the softmax). O_h is
    // rescaled after the wait, though idle (its last P V completed a step ago), so that the
    // branches differ and stay apart.
    while (true) {
      {
        const SegmentMask mask = SegmentMask::load(p.segs + ws.keys.seg);
        issue(B{}, WithPv{});
        ptx::wgmma_wait_group<1>();  // S done (groups complete in order); P V may still run
        float alpha[1][2];
        const bool moved = softmax_of(B{}, mask, alpha);
        if (moved && !fresh[1]) {
          ptx::wgmma_wait_group<0>();
          pv_done(B{});
          softmax[1].rescale(o[1], alpha);
        } else {
          ptx::wgmma_wait_group<0>();
          pv_done(B{});
        }
        close();
      }
      kv.advance();
      const StreamStep next = ws.next(p.items, p.segs, write_empty);
      if (next != StreamStep::kSameItem) finish(0);  // half A's last P V was waited for above
      if (next == StreamStep::kEnd) break;
      const bool new_item = next == StreamStep::kNewItem;
      if (new_item) {
        rows[0] = rows_of(0);
        q.advance();
        wait_q();
      }
      const SegmentMask mask = SegmentMask::load(p.segs + ws.keys.seg);
      issue(A{}, WithPv{});
      ptx::wgmma_wait_group<1>();
      float alpha[1][2];
      const bool moved = softmax_of(A{}, mask, alpha);
      if (new_item) {  // O_A is fresh: nothing to rescale
        ptx::wgmma_wait_group<0>();
        pv_done(A{});
        finish(1);  // half B of the item before: its last P V is done
        rows[1] = rows_of(1);
      } else {
        ptx::wgmma_wait_group<0>();
        pv_done(A{});
        if (moved && !fresh[0]) softmax[0].rescale(o[0], alpha);
      }
      close();
    }
    // Half B's last P V.
    Barrier::at(&st.full_v[pv.index]).wait(pv.full_parity());
    ptx::wgmma_fence();
    pv_product(o[1][0], fresh[1]);
    ptx::wgmma_wait_group<0>();
    ptx::fence_acc(o[1][0]);
    if constexpr (!Tr::kPSmem) ptx::fence_frag(pa[0]);
    release_kv(st.empty_v[pv.index], lane, P.pair);
    finish(1);
  }
};

}  // namespace magi::cuda::sm90
