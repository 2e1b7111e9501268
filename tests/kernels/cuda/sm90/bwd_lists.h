// Backward work lists for the tile-plan tests (tile_plan_test.cc, bwd_pack_test.cc): masks of
// packed documents, and the query tiles each item of a list walks (prepared_work.cc's costs).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cuda/ffa/sm90/segment_tiles.h"
#include "kernels/cuda/ffa/work_list.h"
#include "magi/mask.h"

namespace magi::cuda::sm90::testing {

/// Packed documents ending at `ends`, one slice each.
inline std::vector<AttnSlice> documents(const std::vector<int64_t>& ends, AttnMaskType type) {
  std::vector<AttnSlice> s;
  int64_t start = 0;
  for (const int64_t end : ends) {
    s.push_back({{start, end}, {start, end}, type});
    start = end;
  }
  return s;
}

/// The harness's swa_causal mask (bench/cases.json) of `s` rows: causal over the first `window`
/// rows, then a band of `window` keys ending at each row.
inline std::vector<AttnSlice> sliding_window(int64_t s, int64_t window) {
  return {{{0, window}, {0, window}, AttnMaskType::kCausal},
          {{window, s}, {1, s}, AttnMaskType::kBiCausal}};
}

/// The query tiles of 64 rows each item of a backward list walks.
inline std::vector<int32_t> walk_costs(const WorkList& wl) {
  std::vector<int32_t> cost;
  for (const FfaWorkItem& it : wl.items) {
    int32_t n = 0;
    for (int32_t s = it.seg_begin; s < it.seg_end; ++s) {
      const FfaSegment& g = wl.segs[static_cast<size_t>(s)];
      n += RowTiles<64>::tiles_of(g.q0, g.q1, /*aligned=*/false);
    }
    cost.push_back(n);
  }
  return cost;
}

}  // namespace magi::cuda::sm90::testing
