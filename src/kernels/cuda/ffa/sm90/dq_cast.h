// dQ in 16 bits from the Hopper backward itself (bwd_ws_dq_cast.cuh): the fp32 sum of each
// (block of kBlockM query rows, query head) is cast once the addition that completes it is
// counted, while the block is still in the L2, in place of a separate pass over the whole fp32
// dQ. What the host and the kernel share: which kernels cast, which blocks a query tile's
// addition touches, and how many additions each block gets. A development variant
// (MAGI_FFA_BWD_DQ_CAST=1, ffa_cuda.cc; bench/NOTES.md v57-v58).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/cuda/ffa/params.h"
#include "kernels/cuda/ffa/sm90/segment_tiles.h"
#include "kernels/cuda/host_device.h"

namespace magi::cuda::sm90 {

/// Whether the Hopper backward at head dims (head_dim, head_dim_v) casts dQ itself: the
/// kernels of one key pass, one D pass and whole dQ tiles (up to 128, v's equal to q's), where
/// each query tile is added once per item and query head.
MAGI_HD constexpr bool bwd_casts_dq(int head_dim, int head_dim_v) {
  return head_dim == head_dim_v && head_dim <= 128;
}

/// The blocks [first, last] of kBlockM rows that the addition of a query tile whose first row
/// is `c0` touches: the box's kBlockM rows from c0, less those at or past total_q (clipped).
/// An unaligned tile touches two.
struct DqBlocks {
  int32_t first, last;
};
template <int kBlockM>
MAGI_HD constexpr DqBlocks dq_blocks(int32_t c0, int32_t total_q) {
  const int32_t last = (c0 + kBlockM - 1) / kBlockM, end = (total_q - 1) / kBlockM;
  return {c0 / kBlockM, last < end ? last : end};
}

/// The additions each block of kBlockM rows of one query head gets from a backward list of
/// `items` over `segs` (their query tiles, RowTiles, `aligned` in the deterministic lists): one
/// per tile that touches it, for every query head alike (each item is walked once per head,
/// whole or as a cut tile's two pieces, which walk the same tiles). 0: no tile touches it.
template <int kBlockM>
std::vector<int32_t> dq_block_adds(const std::vector<FfaWorkItem>& items,
                                   const std::vector<FfaSegment>& segs, int32_t total_q,
                                   bool aligned) {
  std::vector<int32_t> adds(static_cast<size_t>((total_q + kBlockM - 1) / kBlockM), 0);
  for (const FfaWorkItem& item : items) {
    if (item.seg_begin == item.seg_end) continue;  // skipped by the kernel's roles
    RowTiles<kBlockM> rows(segs.data(), item, aligned);
    do {
      const DqBlocks b = dq_blocks<kBlockM>(rows.c0, total_q);
      for (int32_t i = b.first; i <= b.last; ++i) ++adds[static_cast<size_t>(i)];
    } while (rows.next(segs.data()));
  }
  return adds;
}

}  // namespace magi::cuda::sm90
