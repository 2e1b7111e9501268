// The key tiles a CTA processes, as one stream: its tiles in scheduler order and, for each
// item with keys, the item's key tiles. The producer and the consumers walk identical streams,
// so a consumer can start the first product of the next item while the last one of the
// current item is still running (no bubble between short items). With kPlanned the CTA's tiles
// are a forward plan's units instead (fwd_plan.h), each a range of an item's key tiles: the
// Hopper forward always runs a plan (the scheduler's rounds are one, fwd_rounds_plan), so its
// consumers carry no state for the rounds (they have no register to spare).

#pragma once

#include <cstdint>

#include "kernels/cuda/ffa/params.h"
#include "kernels/cuda/ffa/sm90/fwd_unit.h"
#include "kernels/cuda/ffa/sm90/segment_tiles.h"
#include "kernels/cuda/ffa/sm90/tile_scheduler.h"
#include "kernels/cuda/host_device.h"

namespace magi::cuda::sm90 {

enum class StreamStep { kSameItem, kNewItem, kEnd };

template <int kBlockN, bool kPlanned = false>
struct WorkStream {
  TileScheduler sched;
  int32_t cta;
  int32_t round = -1;  // the scheduler's round, or the current unit of a plan
  int32_t tile = -1;   // scheduler tile of the current item
  FfaWorkItem item{};
  KeyTiles<kBlockN> keys;
  // kPlanned: all CTAs' units, `round` numbering them, each CTA's followed by one with tile -1.
  // NOTE: the kernel parameter itself, not an offset copy, and no end index: the consumers have
  // no register to spare (the split code, too, is read again where it is needed).
  const FwdUnit* units = nullptr;

  /// Before the first item: call next_item().
  MAGI_HD WorkStream(const TileScheduler& s, int32_t cta_index) : sched(s), cta(cta_index) {
    static_assert(!kPlanned);
  }
  /// ... walking a plan's units from plan_start[cta] to the next with tile -1.
  MAGI_HD WorkStream(const TileScheduler& s, int32_t cta_index, const FwdUnit* plan_units,
                     const int32_t* plan_start)
      : sched(s), cta(cta_index), units(plan_units) {
    static_assert(kPlanned);
    round = plan_start[cta] - 1;
  }

  /// The current unit's FwdUnit::split (-1: a whole tile).
  MAGI_HD int32_t split() const {
    if constexpr (kPlanned) return units[round].split;
    return -1;
  }

  MAGI_HD int32_t head() const { return sched.head_of(tile); }

  /// Moves to the first tile of the next item with keys, handing the items without keys it
  /// passes to on_empty(item, head). False at the end of the CTA's tiles.
  template <class OnEmpty>
  MAGI_HD bool next_item(const FfaWorkItem* items, const FfaSegment* segs, OnEmpty&& on_empty) {
    while (true) {
      FwdUnit unit{-1, 0, 0, -1};
      if constexpr (kPlanned) {
        unit = units[++round];
        tile = unit.tile;
        if (tile < 0) return false;
      } else {
        tile = sched.tile(cta, ++round);
        if (tile < 0) return false;
      }
      item = items[sched.item_of(tile)];
      if (item.seg_begin < item.seg_end) {
        if constexpr (kPlanned) {
          keys.reset_range(segs, item, unit.first, unit.count);
        } else {
          keys.reset(segs, item);
        }
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
