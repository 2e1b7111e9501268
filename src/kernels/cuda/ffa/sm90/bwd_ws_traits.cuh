// Compile-time constants of the warp-specialised Hopper backward kernel (bwd_ws_kernel.cuh).
#pragma once

#include <cstdint>

#include "kernels/cuda/ffa/config.h"
#include "kernels/cuda/ffa/sm90/smem_tile.cuh"
#include "kernels/cuda/ffa/sm90/ws_roles.cuh"
#include "kernels/cuda/ffa/tile_table.h"
#include "kernels/cuda/ffa/traits.cuh"

namespace magi::cuda::sm90 {

/// Named barriers of the backward kernel (id 0 is __syncthreads').
enum class BwdBarrier : uint32_t {
  kDsReady = 1,    // both consumer warpgroups stored their dS^T of the tile
  kConsumers = 2,  // deterministic: both consumer warpgroups (dK / dV turns)
};

template <Elem E, int kHeadDim_>
struct BwdWsTraits : WsRoles {
  static constexpr HeadDimTiles kTile = tiles_for(kHeadDim_);
  static_assert(kTile.head_dim == kHeadDim_, "head dim missing from kHeadDimTiles");

  static constexpr Elem kElem = E;
  using T = typename ElemInfo<E>::T;
  static constexpr int kHeadDim = kHeadDim_;
  // Consumer warpgroup w owns keys [64 w, 64 w + 64) of the item's 128.
  static constexpr int kBlockN = 64 * kConsumerWarpGroups;  // keys per work item
  static constexpr int kBlockM = 64;                        // query rows per tile
  static constexpr int kStages = kTile.bwd_stages;          // Q / dO / lse / D ring depth

  using KvTile = Sw128Tile<kBlockN, kHeadDim>;  // K, V: [keys x D]
  using QTile = Sw128Tile<kBlockM, kHeadDim>;   // Q, dO: [rows x D], per stage
  using DsTile = Sw128Tile<kBlockN, kBlockM>;   // dS^T: [keys x rows], two buffers
  static constexpr uint32_t kKvBytes = KvTile::kBytes;
  static constexpr uint32_t kQBytes = QTile::kBytes;
  static constexpr uint32_t kDsBytes = DsTile::kBytes;
  // lse or D of a tile's rows (fp32), loaded from the row 16-byte aligned at or below the
  // tile's first (TMA needs a box's first element 16-byte aligned in the innermost dimension,
  // here rows): kBlockM + 3 rows at most, 16-byte multiple.
  // Per stage kStatPitch floats: TMA writes a box to a 128-byte-aligned shared address.
  static constexpr int kStatRows = kBlockM + 4;
  static constexpr uint32_t kStatBytes = kStatRows * 4;
  static constexpr int kStatPitch = (kStatRows + 31) / 32 * 32;
  static constexpr int kAtoms = kHeadDim / 64;

  // dQ of a tile, for the writer warp (bwd_ws_dq_writer.cuh): two halves of [kBlockM rows x
  // 64 columns] fp32, half w written by consumer warpgroup w (head dim 128: columns
  // [64 w, 64 w + 64); head dim 64: all 64 columns of its own keys, both halves then added
  // into the same dq columns).
  using DqHalf = Sw128TileF32<kBlockM, 64>;
  static constexpr uint32_t kDqBytes = 2 * DqHalf::kBytes;

  static_assert(kHeadDim == 64 || kHeadDim == 128, "dQ split: see bwd_ws_consumer.cuh");
  static_assert(kStages >= 2);
};

}  // namespace magi::cuda::sm90
