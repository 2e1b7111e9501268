// Compile-time constants of the Hopper forward kernel (tile shape, ring depth, roles,
// register budgets), from the per-head-dim tile table. Nothing here is runtime data.
#pragma once

#include <cstdint>

#include "kernels/cuda/ffa/config.h"
#include "kernels/cuda/ffa/sm90/smem_tile.cuh"
#include "kernels/cuda/ffa/sm90/ws_roles.cuh"
#include "kernels/cuda/ffa/tile_table.h"
#include "kernels/cuda/ffa/traits.cuh"

// NOTE: development filter (see kPairs below); off, the kernels hold no code for it.
#ifndef MAGI_FFA_FWD_PAIRS
#define MAGI_FFA_FWD_PAIRS 0
#endif
// NOTE: development filter (see kPSmem below); off, the kernels hold no code for it.
#ifndef MAGI_FFA_FWD_P_SMEM
#define MAGI_FFA_FWD_P_SMEM 0
#endif
// NOTE: development filter (see kSummed below): 0 builds the max-first softmax everywhere.
#ifndef MAGI_FFA_SOFTMAX_SUMMED
#define MAGI_FFA_SOFTMAX_SUMMED 1
#endif
// NOTE: development filter (see kSummed below): 1 gives the summed softmax to the kernels of
// 160 registers a consumer (the 192-row hd 64 kernel) too.
#ifndef MAGI_FFA_FWD_SUMMED_160
#define MAGI_FFA_FWD_SUMMED_160 0
#endif

namespace magi::cuda::sm90 {

/// Named barriers of the forward kernel (id 0 is __syncthreads').
enum class FwdBarrier : uint32_t {
  kMmaTurn = 1,  // + w: consumer warpgroup w may issue its next GEMMs (mma_turns.cuh)
  kPReady = 4,   // + w: warpgroup w's P tile is in shared memory (FwdTraits::kPSmem)
};

/// 64-row halves per consumer warpgroup of a forward of `block_m` rows: two at 256 rows (two
/// consumer warpgroups of 128 rows, fwd_consumer.cuh: run_halves), else one.
constexpr int fwd_halves(int block_m) { return block_m == 256 ? 2 : 1; }

/// kBlockM_: query rows per item: 128 (two consumer warpgroups of 64 rows), or, where the tile
/// table has a wide variant, kFwdWideBlockM (launch.h): 192 (three of 64) or, in development
/// builds, 256 (two of 128). kHeadDimV_: v's (and O's) head dim, q's and k's otherwise
/// (tile_table.h: kValueHeadDims; the tile table's row is q's).
template <Elem E, int kHeadDim_, int kBlockM_ = 128, int kHeadDimV_ = kHeadDim_>
struct FwdTraits : WsRoles<kBlockM_ / 64 / fwd_halves(kBlockM_)> {
  static constexpr HeadDimTiles kTile = tiles_for(kHeadDim_);
  static_assert(kTile.head_dim == kHeadDim_, "head dim missing from kHeadDimTiles");
  using Roles = WsRoles<kBlockM_ / 64 / fwd_halves(kBlockM_)>;
  using Roles::kConsumerWarpGroups;

  static constexpr Elem kElem = E;
  using T = typename ElemInfo<E>::T;
  static constexpr int kHeadDim = kHeadDim_;
  static constexpr int kHeadDimV = kHeadDimV_;
  // Consumer warpgroup w owns query rows [64 kHalves w, 64 kHalves (w + 1)) of the block.
  static constexpr int kBlockM = kBlockM_;
  static constexpr int kHalves = fwd_halves(kBlockM_);
  static_assert(kBlockM == 64 * kHalves * kConsumerWarpGroups);
  static constexpr int kBlockN =
      kBlockM == 128 ? fwd_block_n(kHeadDim_, kHeadDimV_) : kTile.fwd_wide_block_n;
  static_assert(kBlockN > 0, "no forward of this many rows at this head dim (tile_table.h)");
  static constexpr int kStages = kTile.fwd_stages;
  // Intra-warpgroup overlap (fwd_consumer.cuh): S of tile j is computed while P of tile j - 1
  // multiplies V, so O (Dv / 2 registers a thread), S (kBlockN / 2) and P (kBlockN / 4) live at
  // once; kept where they fit the consumer's budget with 32 registers for the rest. Otherwise
  // each product is waited for before the next (the other warpgroups' products cover this
  // one's softmax): S and P are never live beside each other's successors.
  // (Two halves: the overlap is between the halves, run_halves, and O of both is live.)
  static constexpr bool kOverlap =
      kHalves == 1 && kHeadDimV_ / 2 + 3 * kBlockN / 4 + 32 <= Roles::kConsumerRegs;
  // The softmax's reference checked by the row sums after the exponentials
  // (OnlineSoftmax::update_scores_summed, fwd_consumer.cuh: score_step; bench/NOTES.md v64), in
  // every kernel (max_logits' tracked maxima taken beside the exponents; with softcap too: their
  // forward +0-5 % on the max-first softmax, v68), with its rare paths inline and kept small:
  // the scores taken again in a rolled loop (FwdConsumer::rescore), one max-first tail, and a
  // stream's first tile, whose rows are all fresh, straight to the max-first way (unrolled, they
  // made hd 128's kernel 1.8x the max-first one's code; compact, 2k ran +10-11 %, v68). Not at
  // 160 registers a consumer (the 192-row hd 64 kernel), where it spilled (v65; with the
  // compact paths 8 bytes, v67, none without the first tile's shortcut: kFreshFirst; in
  // development builds, MAGI_FFA_FWD_SUMMED_160=1, it runs there so, bench/NOTES.md v68 item 3).
  static constexpr bool kFreshFirst = Roles::kConsumerRegs >= 200;
  static constexpr bool kSummed =
      MAGI_FFA_SOFTMAX_SUMMED != 0 && (kFreshFirst || MAGI_FFA_FWD_SUMMED_160 != 0);

  using QTile = Sw128Tile<kBlockM, kHeadDim>;   // [kBlockM x D], K-major, 64-column atoms
  using KvTile = Sw128Tile<kBlockN, kHeadDim>;  // [kBlockN x D]: K (K-major)
  using VTile = Sw128Tile<kBlockN, kHeadDimV>;  // [kBlockN x Dv]: V (MN-major)
  static constexpr uint32_t kQBytes = QTile::kBytes;
  static constexpr uint32_t kKvBytes = KvTile::kBytes;
  static constexpr uint32_t kVBytes = VTile::kBytes;
  static constexpr int kAtoms = kHeadDim / 64;    // TMA boxes of 64 columns (128 bytes): Q, K
  static constexpr int kAtomsV = kHeadDimV / 64;  // ... of V
  // K / V shared by CTA pairs (FwdParamsSm90::pair; development, bench/NOTES.md v41, v46: compiled
  // in with -DMAGI_FFA_FWD_PAIRS=1, asked for with the environment's MAGI_FFA_FWD_PAIRS=1): each
  // CTA loads the 64-column atoms of its parity, so both counts must be even.
  static constexpr bool kPairs = MAGI_FFA_FWD_PAIRS != 0 && kAtoms % 2 == 0 && kAtomsV % 2 == 0;
  // P through shared memory (development, -DMAGI_FFA_FWD_P_SMEM=1, bench/NOTES.md v48): in
  // 256-row items each warpgroup stores P of its step to a [64 x kBlockN] tile and multiplies
  // V from there (wgmma SS), so no P fragments are live beside S and both halves' O: the
  // register room for 128-key tiles.
  static constexpr bool kPSmem = MAGI_FFA_FWD_P_SMEM != 0 && kHalves == 2 && kBlockN % 64 == 0;
  // [64 x kBlockN] K-major, per warpgroup (its width rounded up to whole atoms so that the type
  // exists at every kBlockN; used only where kPSmem).
  using PTile = Sw128Tile<64, (kBlockN + 63) / 64 * 64>;
  static constexpr uint32_t kPBytes = kPSmem ? PTile::kBytes * kConsumerWarpGroups : 0;
  // Q tiles in flight: two (the next item's Q loads while the current item runs) when they fit
  // next to the K/V ring in the 227 KB of shared memory (barriers and alignment: 2 KB).
  static constexpr int kQStages =
      2 * kQBytes + kStages * (kKvBytes + kVBytes) + kPBytes + 2048 <= 227 * 1024 ? 2 : 1;

  static_assert(kHeadDim % 64 == 0 && kHeadDimV % 64 == 0, "128-byte swizzled atoms of 64 columns");
  static_assert(kBlockN % 16 == 0 && kBlockN >= 64 && kBlockN <= 256, "wgmma N of S = Q K^T");
  static_assert(kHeadDimV <= 256, "wgmma N of O += P V");
  static_assert(kBlockM <= 256 && kBlockN <= 256, "TMA box extent");
  static_assert(kStages >= 2);
};

}  // namespace magi::cuda::sm90
