// Compile-time constants of the warp-specialised Hopper backward kernel (bwd_ws_kernel.cuh).
#pragma once

#include <cstdint>
#include <type_traits>

#include "kernels/cuda/ffa/config.h"
#include "kernels/cuda/ffa/sm90/dq_cast.h"
#include "kernels/cuda/ffa/sm90/smem_tile.cuh"
#include "kernels/cuda/ffa/sm90/ws_roles.cuh"
#include "kernels/cuda/ffa/tile_table.h"
#include "kernels/cuda/ffa/traits.cuh"

namespace magi::cuda::sm90 {

/// Named barriers of the backward kernel (id 0 is __syncthreads').
enum class BwdBarrier : uint32_t {
  kDsReady = 1,    // both consumer warpgroups stored their dS^T of the tile
  kConsumers = 2,  // deterministic: both consumer warpgroups (dK / dV turns)
  kDqRead = 3,     // Tr::kDPass: both consumer warpgroups' dQ products read dS^T
};

/// kHeadDimV_: v's (and dO's) head dim, q's and k's otherwise (tile_table.h: kValueHeadDims);
/// a value head dim of its own runs the split-D consumers (q's head dim above 128).
template <Elem E, int kHeadDim_, bool kDPass_ = false, int kHeadDimV_ = kHeadDim_>
struct BwdWsTraits : WsRoles<> {
  static constexpr HeadDimTiles kTile = tiles_for(kHeadDim_);
  static_assert(kTile.head_dim == kHeadDim_, "head dim missing from kHeadDimTiles");

  static constexpr Elem kElem = E;
  using T = typename ElemInfo<E>::T;
  static constexpr int kHeadDim = kHeadDim_;
  static constexpr int kHeadDimV = kHeadDimV_;
  static constexpr int kBlockN = BwdTileConfig::kBlockN;  // keys per work item (host work list)
  static constexpr int kBlockM = BwdTileConfig::kBlockM;  // query rows per tile
  // D passes (tile_table.h: bwd_d_passes, head dim 256; cuDNN's way, bench/NOTES.md v36): the
  // item's 128 keys split between the warpgroups as at head dim 128, walked once per
  // 128-column half of D. S^T and dP^T contract over all of D in every walk (1.4x the
  // products of one walk at 256), dK / dV / dQ take the half's columns: dK / dV fit the
  // registers, and dQ is reduced once per 128 keys (split-D: once per 64). Shared memory: K, V
  // of 128 keys, one Q / dO stage, one dS^T buffer, in the dQ tile's memory.
  static constexpr bool kDPass = kDPass_;
  static constexpr int kDPasses = kDPass ? 2 : 1;
  static constexpr int kGradCols = kHeadDim_ / kDPasses;         // columns of dK / dV / dQ per walk
  static constexpr int kStages = kDPass ? 1 : kTile.bwd_stages;  // Q / lse / D ring depth
  static constexpr int kKvStages = kDPass ? 1 : kTile.bwd_kv_stages;  // K / V ring (per key pass)
  // dO in a ring of its own (else it rides the Q ring): consumers release it after dV.
  static constexpr bool kDoRing = !kDPass && kTile.bwd_do_stages > 0;
  static constexpr int kDoStages = kDoRing ? kTile.bwd_do_stages : kStages;  // dO ring depth
  static constexpr int kDqParts = kDPass ? 1 : kTile.bwd_dq_parts;  // dQ hand-offs per query tile

  // Head dim 64 / 128: consumer warpgroup w owns keys [64 w, 64 w + 64) of the item's 128 and
  // their dK / dV over the whole head dim (bwd_ws_consumer.cuh). Above 128 that is more
  // registers than a thread has: the item is walked in passes of 64 keys, both warpgroups on
  // the same keys, each computing a window of 128 head-dim columns, warpgroup 0 from column 0,
  // warpgroup 1 from column D - 128 (bwd_ws_consumer_split_d.cuh). At D = 192 the windows
  // overlap by 64 columns, which warpgroup 1 computes but does not write: equal windows keep
  // both warpgroups on one instruction path (a branch around wgmma serialises them, C7520),
  // and windows start on 64-column atoms (an MN-major operand starts inside one only when it
  // ends there too: Sw128Tile::mn_major).
  static constexpr bool kSplitD = kHeadDim > 128 && !kDPass;
  // Head dim 64: S^T = K_w Q^T and dP^T = V_w dO^T with K_w, V_w as register fragments (wgmma
  // RS), loaded once per item: 32 registers, which halves those products' shared-memory reads
  // (bwd_ws_consumer.cuh; +4-7 % backward, bench/NOTES.md v32). At 128 that would be 64
  // registers (or 32 for K_w alone): ptxas then spills and serialises the wgmma (C7512).
  static constexpr bool kScoresRs = kHeadDim == 64;
  // Keys of K / V held at once (the deterministic list above 128 has items of this size).
  static constexpr int kPassKeys = kSplitD ? BwdTileConfig::kPassKeys : kBlockN;
  static constexpr int kPasses = kBlockN / kPassKeys;
  // Tiles may walk several query heads (BwdParams::pack_heads): one key pass, one D pass, the
  // main consumer (elsewhere the head loop is compiled out: at 256 the 24-register roles
  // spilled), unless built with MAGI_FFA_BWD_PACK_HEADS=0 (the kernels of before, v55-v56).
  static constexpr bool kPackHeads = MAGI_FFA_BWD_PACK_HEADS && kPasses == 1 && !kDPass && !kSplitD;
  // dQ in 16 bits cast by the kernel (sm90/dq_cast.h; BwdParams::dq_store): a queue of
  // kCastSlots added tiles, two stage buffers of kCastStageFloats fp32 (a block's halves; the
  // two fill the shared memory at head dim 128; bwd_ws_dq_cast.cuh).
  static constexpr bool kCastDq = bwd_casts_dq(kHeadDim, kHeadDimV) && kPasses == 1 && !kDPass;
  static constexpr int kCastSlots = 8;
  static constexpr int kCastStageFloats = kBlockM / 2 * kHeadDim;
  static constexpr int kWindow = 128;                 // split-D: columns per warpgroup
  static constexpr int kWindowStep = kHeadDim - 128;  // split-D: warpgroup 1's first column
  static constexpr int kWindowSkip = 256 - kHeadDim;  // split-D: its columns left unwritten
  // The same for dV over v's head dim: windows of 128 columns above 128 (equal to dK's when
  // Dv = D), else of Dv / 2, one half each (MLA's Dv = 128: 64 columns, none computed twice).
  static constexpr int kWindowV = kHeadDimV > 128 ? 128 : kHeadDimV / 2;
  static constexpr int kWindowStepV = kHeadDimV - kWindowV;
  static constexpr int kWindowSkipV = 2 * kWindowV - kHeadDimV;

  using KvTile = Sw128Tile<kPassKeys, kHeadDim>;  // K (and V when Dv = D): [keys x D]
  using QTile = Sw128Tile<kBlockM, kHeadDim>;     // Q (and dO): [rows x D], per stage
  using VTile = Sw128Tile<kPassKeys, kHeadDimV>;  // V: [keys x Dv]
  using DoTile = Sw128Tile<kBlockM, kHeadDimV>;   // dO: [rows x Dv], per stage
  // dS^T [128 keys x 64 rows]; split-D: P^T [64 keys x 64 rows] in columns [0, 64) and dS^T
  // in [64, 128). Two buffers.
  using DsTile =
      std::conditional_t<kSplitD, Sw128Tile<kPassKeys, 128>, Sw128Tile<kBlockN, kBlockM>>;
  static constexpr uint32_t kKvBytes = KvTile::kBytes;
  static constexpr uint32_t kQBytes = QTile::kBytes;
  static constexpr uint32_t kVBytes = VTile::kBytes;
  static constexpr uint32_t kDoBytes = DoTile::kBytes;
  static constexpr uint32_t kDsBytes = DsTile::kBytes;
  // lse or D of a tile's rows (fp32), loaded from the row 16-byte aligned at or below the
  // tile's first (TMA needs a box's first element 16-byte aligned in the innermost dimension,
  // here rows): kBlockM + 3 rows at most, 16-byte multiple.
  // Per stage kStatPitch floats: TMA writes a box to a 128-byte-aligned shared address.
  static constexpr int kStatRows = kBlockM + 4;
  /// The first row of the statistics box of a tile whose first row is `c0`.
  __host__ __device__ static constexpr int stat_row0(int c0) { return c0 & ~3; }
  static constexpr uint32_t kStatBytes = kStatRows * 4;
  static constexpr int kStatPitch = (kStatRows + 31) / 32 * 32;
  static constexpr int kAtoms = kHeadDim / 64;    // TMA boxes of 64 columns: Q, K
  static constexpr int kAtomsV = kHeadDimV / 64;  // ... V, dO

  // dQ = dS K of a tile, head dim 64 / 128: warpgroup w computes columns [w kDqN, (w + 1) kDqN)
  // over all the tile's keys (bwd_ws_consumer.cuh: issue_dq), split-D 64-column blocks of its
  // window. The tile, fp32 [kBlockM rows x kHeadDim], goes to the writer warp
  // (bwd_ws_dq_writer.cuh). With kDqParts = 2 (split-D at 256, tile_table.h) it is half that,
  // handed over twice: part h holds in columns [64 w, 64 w + 64) warpgroup w's dq columns from
  // w kWindowStep + 64 h.
  static constexpr int kDqN = kSplitD ? 64 : kGradCols / 2;
  using DqTile = Sw128TileF32<kBlockM, kGradCols / kDqParts>;
  static constexpr uint32_t kDqBytes = DqTile::kBytes;

  static_assert(kHeadDim == 64 || kHeadDim == 128 || (kSplitD && kHeadDim % 64 == 0) ||
                    (kDPass && kHeadDim == 256),
                "dQ / dK / dV column split: see bwd_ws_consumer*.cuh");
  static_assert(!kSplitD || (kHeadDim <= 256 && kWindowStep % 64 == 0));
  static_assert(kHeadDimV == kHeadDim ||
                    (kSplitD && kHeadDimV % 64 == 0 && kHeadDimV <= 256 && kWindowStepV % 64 == 0),
                "a value head dim of its own: split-D consumers (bwd_ws_consumer_split_d.cuh)");
  static_assert(
      VTile::kAtomBytes == KvTile::kAtomBytes && DoTile::kAtomBytes == QTile::kAtomBytes,
      "V / dO share K's / Q's K-major operand type (bwd_ws_consumer.cuh: issue_transposed)");
  static_assert(kStages >= 1 && kKvStages >= 1);
  static_assert(!kDPass || (kDqParts == 1 && static_cast<uint32_t>(DqTile::kBytes) >= kDsBytes),
                "dS^T in the dQ tile's memory: one dQ hand-off per tile, a tile large enough");
  static_assert(!kDoRing || (kSplitD && kDoStages == 1), "a dO ring of its own: split-D only");
  static_assert(kDqParts == 1 ||
                    (kSplitD && kDqParts == 2 && kWindowSkip == 0 && kWindow / 64 == kDqParts),
                "dQ in parts: one 64-column block per warpgroup per part (split-D at 256)");
};

}  // namespace magi::cuda::sm90
