// The key tiles a CTA processes, as one stream: the units of its forward plan (fwd_plan.h; the
// scheduler's rounds are one, fwd_rounds_plan) and, for each unit with keys, its range of the
// item's key tiles. The producer and the consumers walk identical streams, so a consumer can
// start the first product of the next item while the last one of the current item is still
// running (no bubble between short items).

#pragma once

#include <cstdint>

#include "kernels/cuda/ffa/params.h"
#include "kernels/cuda/ffa/sm90/fwd_unit.h"
#include "kernels/cuda/ffa/sm90/segment_tiles.h"
#include "kernels/cuda/ffa/sm90/tile_scheduler.h"
#include "kernels/cuda/host_device.h"

namespace magi::cuda::sm90 {

enum class StreamStep { kSameItem, kNewItem, kEnd };

template <int kBlockN>
struct WorkStream {
  TileScheduler sched;  // the tile numbering (item_of, head_of)
  // All CTAs' units in the kernel's form (fwd_plan.h: kernel_form), `unit` numbering them.
  // NOTE: the kernel parameter itself, not an offset copy, and no end index (a sentinel unit
  // ends each CTA's list): the consumers have no register to spare (the split slot, too, is
  // read again where it is needed).
  const FwdUnit* units;
  int32_t unit;
  int32_t tile = -1;  // scheduler tile of the current item
  FfaWorkItem item{};
  KeyTiles<kBlockN> keys;

  /// CTA `cta`'s stream, from units[start[cta]]. Before the first item: call next_item().
  MAGI_HD WorkStream(const TileScheduler& s, const FwdUnit* plan_units, const int32_t* start,
                     int32_t cta)
      : sched(s), units(plan_units), unit(start[cta] - 1) {}

  /// The current unit's FwdUnit::split (-1: a whole tile).
  MAGI_HD int32_t split() const { return units[unit].split; }

  MAGI_HD int32_t head() const { return sched.head_of(tile); }

  /// Moves to the first tile of the next item with keys, handing the items without keys it
  /// passes to on_empty(item, head). False at the end of the CTA's tiles.
  template <class OnEmpty>
  MAGI_HD bool next_item(const FfaWorkItem* items, const FfaSegment* segs, OnEmpty&& on_empty) {
    while (true) {
      const FwdUnit u = units[++unit];
      tile = u.tile;
      if (tile < 0) return false;
      item = items[sched.item_of(tile)];
      if (item.seg_begin < item.seg_end) {
        keys.reset_range(segs, item, u.first, u.count);
        return true;
      }
      on_empty(item, head());
    }
  }

  /// The next key tile: of the same item, of the next item with keys, or none.
  template <class OnEmpty>
  MAGI_HD StreamStep next(const FfaWorkItem* items, const FfaSegment* segs, OnEmpty&& on_empty) {
    if (keys.next(segs)) return StreamStep::kSameItem;
    return next_item(items, segs, on_empty) ? StreamStep::kNewItem : StreamStep::kEnd;
  }
};

/// on_empty for walkers that have nothing to do for items without keys (the producer).
struct IgnoreEmpty {
  MAGI_HD void operator()(const FfaWorkItem&, int32_t) const {}
};

}  // namespace magi::cuda::sm90
