// The key tiles a CTA processes, as one stream: its tiles in scheduler order and, for each
// item with keys, the item's key tiles. The producer and the consumers walk identical streams,
// so a consumer can start the first product of the next item while the last one of the
// current item is still running (no bubble between short items).
#pragma once

#include <cstdint>

#include "kernels/cuda/ffa/params.h"
#include "kernels/cuda/ffa/sm90/segment_tiles.h"
#include "kernels/cuda/ffa/sm90/tile_scheduler.h"
#include "kernels/cuda/host_device.h"

namespace magi::cuda::sm90 {

enum class StreamStep { kSameItem, kNewItem, kEnd };

template <int kBlockN>
struct WorkStream {
  TileScheduler sched;
  int32_t cta;
  int32_t round = -1;
  int32_t tile = -1;  // scheduler tile of the current item
  FfaWorkItem item{};
  KeyTiles<kBlockN> keys;

  /// Before the first item: call next_item().
  MAGI_HD WorkStream(const TileScheduler& s, int32_t cta_index) : sched(s), cta(cta_index) {}

  MAGI_HD int32_t head() const { return sched.head_of(tile); }

  /// Moves to the first tile of the next item with keys, handing the items without keys it
  /// passes to on_empty(item, head). False at the end of the CTA's tiles.
  template <class OnEmpty>
  MAGI_HD bool next_item(const FfaWorkItem* items, const FfaSegment* segs, OnEmpty&& on_empty) {
    while (true) {
      tile = sched.tile(cta, ++round);
      if (tile < 0) return false;
      item = items[sched.item_of(tile)];
      if (item.seg_begin < item.seg_end) {
        keys.reset(segs, item);
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
