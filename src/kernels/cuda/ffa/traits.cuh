// Compile-time configuration of the portable (sm_80+, mma.sync) FFA kernels.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/cuda/ffa/config.h"

namespace magi::cuda {

template <Elem E>
struct ElemInfo;
template <>
struct ElemInfo<Elem::kBf16> {
  using T = __nv_bfloat16;
  using T2 = __nv_bfloat162;
};
template <>
struct ElemInfo<Elem::kFp16> {
  using T = __half;
  using T2 = __half2;
};

/// Forward: kWarps warps, each owning kWarpMTiles x 16 query rows of the tile; K/V tiles of
/// kBlockN keys. Shared tiles are row-major with kPad elements of padding per row, which makes
/// ldmatrix and the 16-byte cp.async stores bank-conflict free.
template <Elem E, int kHeadDim_>
struct FwdTraits {
  static constexpr Elem kElem = E;
  using T = typename ElemInfo<E>::T;
  static constexpr int kHeadDim = kHeadDim_;
  static constexpr int kWarps = FwdTileConfig::kWarps;
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kWarpMTiles = FwdTileConfig::kWarpMTiles;
  static constexpr int kBlockM = FwdTileConfig::kBlockM;
  static constexpr int kBlockN = FwdTileConfig::kBlockN;
  static constexpr int kPad = 8;
  static constexpr int kPitch = kHeadDim + kPad;              // elements per smem row
  static constexpr int kSmemQ = kBlockM * kPitch;             // elements
  static constexpr int kSmemK = kBlockN * kPitch;
  static constexpr int kSmemV = kBlockN * kPitch;
  static constexpr int kSmemBytes = (kSmemQ + kSmemK + kSmemV) * 2;
  static constexpr int kMinBlocksPerSm = FwdTileConfig::kMinBlocksPerSm;
  static_assert(kHeadDim % 16 == 0 && kBlockN % 16 == 0);
  static_assert(kSmemBytes * kMinBlocksPerSm <= 227 * 1024);
};

/// Backward: kWarps warps over a tile of kBlockM query rows x kBlockN keys. S, dP: warp
/// (w % 4) owns 16 query rows, (w / 4) half of the keys. dK, dV: warp (w % 4) owns 16 keys,
/// (w / 4) half of the head dim. dQ: (w % 4) 16 rows, (w / 4) half of the head dim.
template <Elem E, int kHeadDim_>
struct BwdTraits {
  static constexpr Elem kElem = E;
  using T = typename ElemInfo<E>::T;
  static constexpr int kHeadDim = kHeadDim_;
  static constexpr int kWarps = BwdTileConfig::kWarps;
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kBlockM = BwdTileConfig::kBlockM;
  static constexpr int kBlockN = BwdTileConfig::kBlockN;
  static constexpr int kPad = 8;
  static constexpr int kPitch = kHeadDim + kPad;   // Q, dO, K, V rows
  static constexpr int kPitchP = kBlockN + kPad;   // P, dS rows
  static constexpr int kSmemK = kBlockN * kPitch;
  static constexpr int kSmemV = kBlockN * kPitch;
  static constexpr int kSmemQ = kBlockM * kPitch;
  static constexpr int kSmemDo = kBlockM * kPitch;
  static constexpr int kSmemP = kBlockM * kPitchP;
  static constexpr int kSmemDs = kBlockM * kPitchP;
  static constexpr int kSmemBytes =
      (kSmemK + kSmemV + kSmemQ + kSmemDo + kSmemP + kSmemDs) * 2 + 2 * kBlockM * 4;
  static constexpr int kMinBlocksPerSm = BwdTileConfig::kMinBlocksPerSm;
  static_assert(kWarps == 8 && kBlockM == 4 * 16 && kBlockN == 2 * 32);
  static_assert(kSmemBytes * kMinBlocksPerSm <= 227 * 1024);
};

}  // namespace magi::cuda
