// Persistent tile scheduler of the Hopper kernels: index maths only, host and device.
//
// A tile is (work item, query head); tiles are numbered item-major with heads innermost, so
// tile order follows the work list's longest-first item order, and the query heads that share
// a kv head (adjacent numbers) run side by side and share K/V in L2. The grid is persistent
// (at most one CTA per SM); round r hands tiles [r G, r G + G) to the G CTAs, left to right in
// even rounds and right to left in odd ones ("snake"), so no CTA takes the longest tile of
// every round: the per-CTA sums of a longest-first list differ by about one round's spread.
// Every role of a CTA walks the same sequence, so no tile index crosses shared memory.
#pragma once

#include <cstdint>

#include "kernels/cuda/host_device.h"

namespace magi::cuda::sm90 {

struct TileScheduler {
  int32_t num_tiles;  // work items x query heads
  int32_t num_heads;  // query heads
  int32_t grid;       // CTAs, 1 <= grid <= num_tiles (when num_tiles > 0)
  // 0: item-major tile numbering (heads innermost). g > 0: items in groups of g; in a group,
  // kv head outermost, then item, then the query heads of the kv head: the CTAs running side
  // by side read one kv head's K/V (row blocks of one head, and the heads that share it).
  int32_t group = 0;
  int32_t heads_per_kv = 1;  // query heads side by side in a group (1: a group walks one head)

  /// The persistent grid for `num_tiles` tiles on `num_sms` multiprocessors.
  MAGI_HD static int32_t grid_for(int32_t num_tiles, int32_t num_sms) {
    return num_tiles < num_sms ? num_tiles : num_sms;
  }

  /// The tile CTA `cta` runs in round `round`, or -1 when it has none (that round and every
  /// later one: a CTA's sequence ends at its first -1).
  MAGI_HD int32_t tile(int32_t cta, int32_t round) const {
    const int64_t base = static_cast<int64_t>(round) * grid;
    const int64_t t = base + ((round & 1) ? grid - 1 - cta : cta);
    return t < num_tiles ? static_cast<int32_t>(t) : -1;
  }

  MAGI_HD int32_t item_of(int32_t tile) const {
    if (group == 0) return tile / num_heads;
    int32_t g, size, r;
    locate(tile, g, size, r);
    return g * group + (r % (size * heads_per_kv)) / heads_per_kv;
  }
  MAGI_HD int32_t head_of(int32_t tile) const {
    if (group == 0) return tile - (tile / num_heads) * num_heads;
    int32_t g, size, r;
    locate(tile, g, size, r);
    const int32_t kv = r / (size * heads_per_kv);
    return kv * heads_per_kv + r % heads_per_kv;
  }

 private:
  /// Group of `tile`, its item count (the last group may be short) and the tile's rank in it.
  MAGI_HD void locate(int32_t tile, int32_t& g, int32_t& size, int32_t& r) const {
    g = tile / (group * num_heads);
    r = tile - g * group * num_heads;
    const int32_t left = num_tiles / num_heads - g * group;
    size = left < group ? left : group;
  }
};

}  // namespace magi::cuda::sm90
