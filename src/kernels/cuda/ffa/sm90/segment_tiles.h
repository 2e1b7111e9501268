// The tiles of a work item along one axis of its segments: segment after segment, kBlock
// positions at a time from the segment's first, or from the global block holding it when
// `aligned` (the positions before the segment's first are masked, like those past its end).
// Forward items walk keys (KeyTiles), backward items walk query rows (RowTiles; aligned in the
// deterministic mode). The producer and the consumers walk the same sequence. A walk may be
// rotated (`rotate` >= 0, items of one segment only): it starts at tile rotate % n of the
// segment's n and wraps around, so CTAs walking the same rows at the same time start apart.
#pragma once

#include "kernels/cuda/ffa/params.h"
#include "kernels/cuda/host_device.h"

namespace magi::cuda::sm90 {

enum class SegAxis { kKeys, kRows };

template <int kBlock, SegAxis kAxis>
struct SegmentTiles {
  int seg = 0;  // segment of the current tile
  int c0 = 0;   // first position of the current tile
  int k1 = 0;   // end of the segment's positions
  int seg_end = 0;
  bool aligned = false;
  int first = 0;  // rotated walk: the segment's first tile position
  int left = -1;  // rotated walk: tiles after this one; -1 for an unrotated walk

  SegmentTiles() = default;
  /// Positioned on the first tile; the item must have a segment.
  MAGI_HD SegmentTiles(const FfaSegment* segs, const FfaWorkItem& item, bool align = false,
                       int rotate = -1) {
    reset(segs, item, align, rotate);
  }
  MAGI_HD void reset(const FfaSegment* segs, const FfaWorkItem& item, bool align = false,
                     int rotate = -1) {
    aligned = align;
    seg = item.seg_begin;
    seg_end = item.seg_end;
    load(segs[seg]);
    left = -1;
    if (rotate >= 0 && seg_end - seg == 1) {
      const int n = (k1 - c0 + kBlock - 1) / kBlock;
      first = c0;
      c0 += rotate % n * kBlock;
      left = n - 1;
    }
  }
  /// Whether this is the item's last tile.
  MAGI_HD bool last() const {
    return left >= 0 ? left == 0 : c0 + kBlock >= k1 && seg + 1 >= seg_end;
  }

  /// Moves to the next tile; false (and unchanged) after the last one.
  MAGI_HD bool next(const FfaSegment* segs) {
    if (left >= 0) {
      if (left == 0) return false;
      --left;
      c0 = c0 + kBlock < k1 ? c0 + kBlock : first;
      return true;
    }
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
