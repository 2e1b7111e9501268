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

/// Two 16-bit elements as floats.
__device__ __forceinline__ float2 to_float2(__nv_bfloat162 v) { return __bfloat1622float2(v); }
__device__ __forceinline__ float2 to_float2(__half2 v) { return __half22float2(v); }

/// Forward: kWarps warps, each owning kWarpMTiles x 16 query rows of the tile; K/V tiles of
/// kBlockN keys. Shared tiles are row-major with kPad elements of padding per row, which makes
/// ldmatrix and the 16-byte cp.async stores bank-conflict free. kHeadDimV_: v's (and O's) head
/// dim, q's and k's otherwise (tile_table.h: kValueHeadDims).
template <Elem E, int kHeadDim_, int kHeadDimV_ = kHeadDim_>
struct FwdTraits {
  static constexpr Elem kElem = E;
  using T = typename ElemInfo<E>::T;
  static constexpr int kHeadDim = kHeadDim_;
  static constexpr int kHeadDimV = kHeadDimV_;
  // Above head dim 128 a warp holds O of 16 rows (D / 2 registers a thread at 32 rows would
  // not fit, nor O of 128 columns beside S over 192: 40 bytes spilled): twice the warps for the
  // same kBlockM, one CTA per SM (shared memory).
  static constexpr bool kWide = kHeadDim_ > 128 || kHeadDimV_ > 128;
  static constexpr int kWarps = kWide ? 2 * FwdTileConfig::kWarps : FwdTileConfig::kWarps;
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kWarpMTiles = kWide ? 1 : FwdTileConfig::kWarpMTiles;
  static constexpr int kBlockM = kWarps * kWarpMTiles * 16;
  static constexpr int kBlockN = FwdTileConfig::kBlockN<kHeadDim_>;
  static constexpr int kPad = 8;
  static constexpr int kPitch = kHeadDim + kPad;    // elements per smem row of Q and K
  static constexpr int kPitchV = kHeadDimV + kPad;  // ... of V
  static constexpr int kSmemQ = kBlockM * kPitch;   // elements
  static constexpr int kSmemK = kBlockN * kPitch;
  static constexpr int kSmemV = kBlockN * kPitchV;
  static constexpr int kStages = FwdTileConfig::kStages;  // K/V ring: tiles in flight
  static constexpr int kSmemBytes = (kSmemQ + kStages * (kSmemK + kSmemV)) * 2;
  static constexpr int kMinBlocksPerSm = kWide ? 1 : FwdTileConfig::kMinBlocksPerSm;
  static_assert(kBlockM == FwdTileConfig::kBlockM, "the work list's row blocks");
  static_assert(kHeadDim % 16 == 0 && kHeadDimV % 16 == 0 && kBlockN % 16 == 0 && kStages >= 2);
  static_assert(kSmemBytes * kMinBlocksPerSm <= 227 * 1024);
};

/// Backward: 8 warps over a tile of kBlockM query rows x kBlockN keys; Q, dO (and lse, D)
/// double-buffered. Warp grids (rows x cols of warps) per product:
///   S, dP  [kBlockM x kBlockN]: 2 x 4 warps, each 32 x 32
///   dK, dV [kBlockN x D], [kBlockN x Dv]: 4 x 2 warps, each 32 x D/2, 32 x Dv/2
///   dQ     [kBlockM x D]:       2 x 4 warps, each 32 x D/4
/// kHeadDimV_: v's (and dO's) head dim, q's and k's otherwise (tile_table.h: kValueHeadDims).
template <Elem E, int kHeadDim_, int kHeadDimV_ = kHeadDim_>
struct BwdTraits {
  static constexpr Elem kElem = E;
  using T = typename ElemInfo<E>::T;
  static constexpr int kHeadDim = kHeadDim_;
  static constexpr int kHeadDimV = kHeadDimV_;
  static constexpr int kWarps = BwdTileConfig::kWarps;
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kBlockM = BwdTileConfig::kBlockM;
  // Above head dim 128, dK / dV of 32 keys x D / 2 a warp would not fit its registers: a CTA
  // takes one pass of kPassKeys keys of its item (kPasses CTAs per item and head).
  static constexpr bool kWide = kHeadDim_ > 128 || kHeadDimV_ > 128;
  static constexpr int kBlockN = kWide ? BwdTileConfig::kPassKeys : BwdTileConfig::kBlockN;
  static constexpr int kPasses = BwdTileConfig::kBlockN / kBlockN;
  static constexpr int kStages = 2;
  static constexpr int kSWarpsM = 2, kSWarpsN = 4;
  static constexpr int kSMT = kBlockM / (16 * kSWarpsM), kSNT = kBlockN / (8 * kSWarpsN);
  static constexpr int kKvWarpsM = 4, kKvWarpsN = 2;
  static constexpr int kKvMT = kBlockN / (16 * kKvWarpsM);
  static constexpr int kKvNT = kHeadDim / (8 * kKvWarpsN);  // dK
  static constexpr int kVNT = kHeadDimV / (8 * kKvWarpsN);  // dV
  static constexpr int kQWarpsM = 2, kQWarpsN = 4;
  static constexpr int kQMT = kBlockM / (16 * kQWarpsM), kQNT = kHeadDim / (8 * kQWarpsN);
  static constexpr int kPad = 8;
  static constexpr int kPitch = kHeadDim + kPad;    // Q, K rows
  static constexpr int kPitchV = kHeadDimV + kPad;  // dO, V rows
  static constexpr int kPitchP = kBlockN + kPad;    // P, dS rows
  static constexpr int kSmemK = kBlockN * kPitch;   // elements
  static constexpr int kSmemV = kBlockN * kPitchV;
  static constexpr int kSmemQ = kBlockM * kPitch;    // per stage
  static constexpr int kSmemDo = kBlockM * kPitchV;  // per stage
  static constexpr int kSmemP = kBlockM * kPitchP;
  static constexpr int kSmemDs = kBlockM * kPitchP;
  static constexpr int kSmemBytes =
      (kSmemK + kSmemV + kStages * (kSmemQ + kSmemDo) + kSmemP + kSmemDs) * 2 +
      2 * kStages * kBlockM * 4;
  static constexpr int kMinBlocksPerSm = kWide ? 1 : BwdTileConfig::kMinBlocksPerSm;
  static_assert(kWarps == kSWarpsM * kSWarpsN && kWarps == kKvWarpsM * kKvWarpsN &&
                kWarps == kQWarpsM * kQWarpsN);
  static_assert(kSNT % 2 == 0 && kKvNT % 2 == 0 && kVNT % 2 == 0 && kQNT % 2 == 0);
  static_assert(kSmemBytes * kMinBlocksPerSm <= 227 * 1024);
};

}  // namespace magi::cuda
