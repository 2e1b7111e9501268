// Shared memory of the Hopper forward kernel: the Q tile, the K/V ring and its barriers.
#pragma once

#include <cstdint>

namespace magi::cuda::sm90 {

/// The P tiles of FwdTraits::kPSmem (first, at the storage's 1024-byte boundary); none
/// otherwise (an empty base: the storage's layout is the same as without it).
template <class Tr, bool = Tr::kPSmem>
struct FwdPTiles {};
template <class Tr>
struct FwdPTiles<Tr, true> {
  alignas(1024) unsigned char p[Tr::kConsumerWarpGroups][Tr::PTile::kBytes];  // per warpgroup
};

template <class Tr>
struct FwdSharedStorage : FwdPTiles<Tr> {
  alignas(1024) unsigned char q[Tr::kQStages][Tr::kQBytes];  // [kBlockM x D] swizzled, K-major
  alignas(1024) unsigned char k[Tr::kStages][Tr::kKvBytes];  // [kBlockN x D] swizzled, per stage
  alignas(1024) unsigned char v[Tr::kStages][Tr::kVBytes];   // [kBlockN x Dv] swizzled, per stage
  // full: landed (1 arrival + bytes); empty: read (one arrival per consumer warp).
  uint64_t full_q[Tr::kQStages], empty_q[Tr::kQStages];
  uint64_t full_k[Tr::kStages], empty_k[Tr::kStages];
  uint64_t full_v[Tr::kStages], empty_v[Tr::kStages];

  /// Dynamic shared memory to ask for: the storage plus the slack to align it to 1024 bytes.
  static constexpr int kLaunchBytes = 1024 + static_cast<int>(sizeof(FwdSharedStorage));
};

}  // namespace magi::cuda::sm90
