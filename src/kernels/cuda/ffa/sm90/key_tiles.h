// The key tiles of a forward work item: segment after segment, kBlockN keys at a time from
// the segment's first key (the last tile of a segment may run past its end: masked). The
// producer and the consumers walk the same sequence.
#pragma once

#include "kernels/cuda/ffa/params.h"
#include "kernels/cuda/host_device.h"

namespace magi::cuda::sm90 {

template <int kBlockN>
struct KeyTiles {
  int seg;  // segment of the current tile
  int c0;   // first key of the current tile
  int k1;   // end of the segment's keys
  int seg_end;

  KeyTiles() = default;
  /// Positioned on the first tile; the item must have a segment.
  MAGI_HD KeyTiles(const FfaSegment* segs, const FfaWorkItem& item) { reset(segs, item); }
  MAGI_HD void reset(const FfaSegment* segs, const FfaWorkItem& item) {
    seg = item.seg_begin;
    c0 = segs[seg].k0;
    k1 = segs[seg].k1;
    seg_end = item.seg_end;
  }
  /// Whether this is the item's last tile.
  MAGI_HD bool last() const { return c0 + kBlockN >= k1 && seg + 1 >= seg_end; }

  /// Moves to the next tile; false (and unchanged) after the last one.
  MAGI_HD bool next(const FfaSegment* segs) {
    if (c0 + kBlockN < k1) {
      c0 += kBlockN;
      return true;
    }
    if (seg + 1 >= seg_end) return false;
    ++seg;
    c0 = segs[seg].k0;
    k1 = segs[seg].k1;
    return true;
  }
};

}  // namespace magi::cuda::sm90
