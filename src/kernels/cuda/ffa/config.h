// Tile configuration of the portable FFA kernels (host- and device-visible).
//
// NOTE: the MAGI_FFA_* macros are a development filter for trying tile shapes without editing
// code (pass them through -DMAGI_CUDA_EXTRA_FLAGS); the defaults are the shipped config.
#pragma once

#ifndef MAGI_FFA_FWD_WARPS
#define MAGI_FFA_FWD_WARPS 4
#endif
#ifndef MAGI_FFA_FWD_WARP_MTILES
#define MAGI_FFA_FWD_WARP_MTILES 2
#endif
#ifndef MAGI_FFA_FWD_BLOCK_N
#define MAGI_FFA_FWD_BLOCK_N 32
#endif
#ifndef MAGI_FFA_FWD_STAGES
#define MAGI_FFA_FWD_STAGES 2
#endif
#ifndef MAGI_FFA_FWD_MIN_BLOCKS
#define MAGI_FFA_FWD_MIN_BLOCKS 2
#endif
#ifndef MAGI_FFA_BWD_DUAL
#define MAGI_FFA_BWD_DUAL 0
#endif
#ifndef MAGI_FFA_BWD_WARP_SKIP
#define MAGI_FFA_BWD_WARP_SKIP 0
#endif
#ifndef MAGI_FFA_BWD_MIN_BLOCKS
#define MAGI_FFA_BWD_MIN_BLOCKS 1
#endif

namespace magi::cuda {

/// Element type tags: the only typed compile-time parameter besides the head dim.
enum class Elem { kBf16, kFp16 };

/// Score softcapping, a kernel variant (the tanh path costs registers and SFU time).
enum class Softcap { kOff, kOn };

/// Whether each thread tracks its cells' maximum beside the softmax's reference
/// (OnlineSoftmax::row_top), a Hopper forward variant for max_logits: the reference then keeps
/// its slack (bench/NOTES.md v56).
enum class TrackMax { kOff, kOn };

/// FwdParams::rescale_slack where nothing needs the reference to be the row max.
inline constexpr float kRescaleSlack = 8.f;

inline constexpr float kLog2e = 1.4426950408889634f;
inline constexpr float kLn2 = 0.6931471805599453f;

struct FwdTileConfig {
  static constexpr int kWarps = MAGI_FFA_FWD_WARPS;
  static constexpr int kWarpMTiles = MAGI_FFA_FWD_WARP_MTILES;  // 16-row m-tiles per warp
  static constexpr int kBlockM = kWarps * kWarpMTiles * 16;     // query rows per work item
  /// Keys per K/V tile: 32 at head dim 128 keeps O, S and the fragments in 255 registers.
  template <int kHeadDim>
  static constexpr int kBlockN = kHeadDim <= 64 ? 64 : MAGI_FFA_FWD_BLOCK_N;
  static constexpr int kStages = MAGI_FFA_FWD_STAGES;  // K/V ring depth
  static constexpr int kMinBlocksPerSm = MAGI_FFA_FWD_MIN_BLOCKS;
};

struct BwdTileConfig {
  static constexpr int kWarps = 8;
  static constexpr int kBlockM = 64;    // query rows per tile
  static constexpr int kBlockN = 128;   // keys per work item
  static constexpr int kPassKeys = 64;  // Hopper, head dim > 128: keys per pass over an item
  static constexpr int kMinBlocksPerSm = MAGI_FFA_BWD_MIN_BLOCKS;
};

}  // namespace magi::cuda
