// Shared memory of the warp-specialised Hopper backward kernel: a ring of the K and V of items
// (or of their passes, split-D), a ring of query tiles (Q, dO and the rows' lse and D; dO in a ring
// of its own at split-D 256), two dS^T buffers (one, inside the dQ tile, with D passes), the dQ
// tile, the barriers and the dQ cast's queue. The 1024-aligned tiles come first: at head dim 256
// the whole storage is within 3 KB of the 227 KB limit.
#pragma once

#include <cstdint>

namespace magi::cuda::sm90 {

template <class Tr>
struct BwdWsSharedStorage {
  alignas(1024) unsigned char k[Tr::kKvStages][Tr::kKvBytes];     // [kPassKeys x D] swizzled
  alignas(1024) unsigned char v[Tr::kKvStages][Tr::kVBytes];      // [kPassKeys x Dv] swizzled
  alignas(1024) unsigned char q[Tr::kStages][Tr::kQBytes];        // [64 rows x D] swizzled
  alignas(1024) unsigned char dout[Tr::kDoStages][Tr::kDoBytes];  // [64 rows x Dv] swizzled
  // Two dS^T buffers (Tr::DsTile), then the tile's dQ (fp32 swizzled, Tr::DqTile); with
  // Tr::kDPass one dS^T buffer at the dQ tile's start (ds(), dq()).
  alignas(1024) unsigned char ds_dq[(Tr::kDPass ? 0 : 2 * Tr::kDsBytes) + Tr::kDqBytes];
  // From row Tr::stat_row0(c0) of the tile (Tr::kStatRows): lse * log2(e) (+inf: row without
  // cells) and D = rowsum(dO * O).
  // Tr::kCastDq: the casting warp's (warp 3's) buffers of fp32 dQ rows, a block's halves
  // (bwd_ws_dq_cast.cuh).
  alignas(128) float cast_stage[Tr::kCastDq ? 2 : 0][Tr::kCastStageFloats];
  alignas(128) float lse2[Tr::kStages][Tr::kStatPitch];
  alignas(128) float dsum[Tr::kStages][Tr::kStatPitch];
  // full: landed (1 arrival + bytes); empty: read (one arrival per consumer warp).
  uint64_t full_kv[Tr::kKvStages], empty_kv[Tr::kKvStages];
  uint64_t full_q[Tr::kStages], empty_q[Tr::kStages];
  // dq_full, the consumers' dQ is in `dq` (one arrival per consumer thread);
  // dq_empty, the writer's reductions have read it (one arrival).
  uint64_t dq_full, dq_empty;
  // Tr::kDoRing: dO's own ring (full: landed; empty: read by every consumer warp); unused else.
  uint64_t full_do[Tr::kDoStages], empty_do[Tr::kDoStages];
  // Tr::kCastDq: the dQ cast's queue of added tiles, first row and head (bwd_ws_dq_cast.cuh;
  // full: the writer's arrival, empty: the lane that took the tile; warp 2's), and the stage
  // buffers' loads landed (warp 3's); unused else.
  uint64_t cast_full[Tr::kCastSlots], cast_empty[Tr::kCastSlots];
  uint64_t cast_landed[2];
  int cast_row[Tr::kCastSlots], cast_head[Tr::kCastSlots];

  __device__ __forceinline__ unsigned char* ds(int buf) {
    return ds_dq + (Tr::kDPass ? 0 : buf * Tr::kDsBytes);
  }
  __device__ __forceinline__ unsigned char* dq() {
    return ds_dq + (Tr::kDPass ? 0 : 2 * Tr::kDsBytes);
  }

  /// Dynamic shared memory to ask for: the storage plus the slack to align it to 1024 bytes.
  static constexpr int kLaunchBytes = 1024 + static_cast<int>(sizeof(BwdWsSharedStorage));
};

}  // namespace magi::cuda::sm90
