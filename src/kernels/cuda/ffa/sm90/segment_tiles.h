// The tiles of a work item along one axis of its segments: segment after segment, kBlock
// positions at a time from the segment's first, or from the global block holding it when
// `aligned` (the positions before the segment's first are masked, like those past its end).
// Forward items walk keys (KeyTiles), backward items walk query rows (RowTiles; aligned in the
// deterministic mode). The producer and the consumers walk the same sequence. A forward plan's
// piece of a tile (fwd_plan.h) walks a range of the sequence: `count` tiles from tile `first`.
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
  int left;  // tiles of the walk from the current one on (a plan's range), else kUnbounded
  bool aligned;

  static constexpr int kUnbounded = 1 << 30;
  static constexpr bool kRanged = kAxis == SegAxis::kKeys;  // only forward walks have ranges

  SegmentTiles() = default;
  /// Positioned on the first tile; the item must have a segment.
  MAGI_HD SegmentTiles(const FfaSegment* segs, const FfaWorkItem& item, bool align = false) {
    reset(segs, item, align);
  }
  MAGI_HD void reset(const FfaSegment* segs, const FfaWorkItem& item, bool align = false) {
    aligned = align;
    seg = item.seg_begin;
    seg_end = item.seg_end;
    left = kUnbounded;
    load(segs[seg]);
  }
  /// Positioned on tile `first` of the item's walk, which then ends `count` (>= 1) tiles later;
  /// the walk must have first + count tiles (the forward's, not aligned).
  MAGI_HD void reset_range(const FfaSegment* segs, const FfaWorkItem& item, int first, int count) {
    static_assert(kRanged);
    reset(segs, item);
    for (int n; first >= (n = (k1 - c0 + kBlock - 1) / kBlock);) {
      first -= n;
      load(segs[++seg]);
    }
    c0 += first * kBlock;
    left = count;
  }
  /// The first tile's position of a segment whose positions start at `first` (the host's cost
  /// of a walk counts tiles from here too, prepared_work.cc).
  MAGI_HD static constexpr int first_tile(int first, bool aligned) {
    return aligned ? first / kBlock * kBlock : first;
  }
  /// The tiles of a segment whose positions are [first, end).
  MAGI_HD static constexpr int tiles_of(int first, int end, bool aligned) {
    return (end - first_tile(first, aligned) + kBlock - 1) / kBlock;
  }
  /// Whether this is the walk's last tile.
  MAGI_HD bool last() const {
    return (kRanged && left == 1) || (c0 + kBlock >= k1 && seg + 1 >= seg_end);
  }

  /// Moves to the next tile; false (and unchanged) after the last one.
  MAGI_HD bool next(const FfaSegment* segs) {
    if constexpr (kRanged) {
      if (left == 1) return false;
      --left;
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
    c0 = first_tile(kAxis == SegAxis::kKeys ? s.k0 : s.q0, aligned);
    k1 = kAxis == SegAxis::kKeys ? s.k1 : s.q1;
  }
};

template <int kBlockN>
using KeyTiles = SegmentTiles<kBlockN, SegAxis::kKeys>;
template <int kBlockM>
using RowTiles = SegmentTiles<kBlockM, SegAxis::kRows>;

}  // namespace magi::cuda::sm90
