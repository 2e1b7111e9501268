// The tiles of a work item along one axis of its segments: segment after segment, kBlock
// positions at a time from the segment's first, or from the global block holding it when
// `aligned` (the positions before the segment's first are masked, like those past its end).
// Forward items walk keys (KeyTiles), backward items walk query rows (RowTiles; aligned in the
// deterministic mode). The producer and the consumers walk the same sequence.
#pragma once

#include "kernels/cuda/ffa/params.h"
#include "kernels/cuda/host_device.h"

namespace magi::cuda::sm90 {

enum class SegAxis { kKeys, kRows };

template <int kBlock, SegAxis kAxis>
struct SegmentTiles {
  int seg;  // segment of the current tile
  int c0;   // first position of the current tile
  int k1;   // end of the segment's positions
  int seg_end;
  bool aligned;

  SegmentTiles() = default;
  /// Positioned on the first tile; the item must have a segment.
  MAGI_HD SegmentTiles(const FfaSegment* segs, const FfaWorkItem& item, bool align = false) {
    reset(segs, item, align);
  }
  MAGI_HD void reset(const FfaSegment* segs, const FfaWorkItem& item, bool align = false) {
    aligned = align;
    seg = item.seg_begin;
    seg_end = item.seg_end;
    load(segs[seg]);
  }
  /// Whether this is the item's last tile.
  MAGI_HD bool last() const { return c0 + kBlock >= k1 && seg + 1 >= seg_end; }

  /// Moves to the next tile; false (and unchanged) after the last one.
  MAGI_HD bool next(const FfaSegment* segs) {
    if (c0 + kBlock < k1) {
      c0 += kBlock;
      return true;
    }
    if (seg + 1 >= seg_end) return false;
    ++seg;
    load(segs[seg]);
    return true;
  }

 private:
  MAGI_HD void load(const FfaSegment& s) {
    c0 = kAxis == SegAxis::kKeys ? s.k0 : s.q0;
    if (aligned) c0 = c0 / kBlock * kBlock;
    k1 = kAxis == SegAxis::kKeys ? s.k1 : s.q1;
  }
};

template <int kBlockN>
using KeyTiles = SegmentTiles<kBlockN, SegAxis::kKeys>;
template <int kBlockM>
using RowTiles = SegmentTiles<kBlockM, SegAxis::kRows>;

}  // namespace magi::cuda::sm90
