// The work stream the Hopper forward's producer and consumers walk (ffa/sm90/work_stream.h):
// per CTA, the non-empty items of its tiles in scheduler order (the rounds as a plan,
// fwd_plan.h), each with its key tiles; the items without keys reported once; KeyTiles::last()
// true exactly on an item's last tile.
#include "kernels/cuda/ffa/sm90/work_stream.h"

#include <gtest/gtest.h>

#include <random>
#include <utility>
#include <vector>

#include "kernels/cuda/ffa/sm90/fwd_plan.h"
#include "kernels/cuda/ffa/work_list.h"
#include "testing/random_mask.h"

namespace magi::cuda::sm90 {
namespace {

TEST(WorkStream, WalksEveryTileOfEveryItemOnce) {
  std::mt19937_64 rng(11);
  for (int iter = 0; iter < 150; ++iter) {
    const int64_t sq = 1 + rng() % 900, sk = 1 + rng() % 900;
    const auto slices = make_disjoint(testing::random_slices(rng, sq, sk, 6));
    const WorkList wl = build_fwd_work(slices, sq, 128);
    const int heads = 1 + static_cast<int>(rng() % 3);
    const int tiles = static_cast<int>(wl.items.size()) * heads;
    const TileScheduler sched{tiles, heads, TileScheduler::grid_for(tiles, 1 + rng() % 9)};
    std::vector<int32_t> item_tiles;  // key tiles of 128 per item (KeyTiles)
    for (const FfaWorkItem& it : wl.items) {
      int32_t n = 0;
      for (int g = it.seg_begin; g < it.seg_end; ++g)
        n += (wl.segs[g].k1 - wl.segs[g].k0 + 127) / 128;
      item_tiles.push_back(n);
    }
    const FwdKernelPlan plan =
        kernel_form(fwd_rounds_plan(item_tiles, heads, sched.grid, FwdCost{}));
    std::vector<int> seen_tiles(tiles, 0);
    for (int cta = 0; cta < sched.grid; ++cta) {
      // Expected: the CTA's scheduler tiles in order; (tile, key start) per key tile.
      std::vector<std::pair<int, int>> want, got;
      std::vector<int> want_empty, got_empty;
      for (int r = 0; sched.tile(cta, r) >= 0; ++r) {
        const int t = sched.tile(cta, r);
        const FfaWorkItem& it = wl.items[sched.item_of(t)];
        if (it.seg_begin == it.seg_end) want_empty.push_back(t);
        for (int g = it.seg_begin; g < it.seg_end; ++g) {
          for (int c = wl.segs[g].k0; c < wl.segs[g].k1; c += 128) want.emplace_back(t, c);
        }
      }
      WorkStream<128> ws{sched, plan.units.data(), plan.start.data(), cta};
      const auto on_empty = [&](const FfaWorkItem& it, int32_t head) {
        EXPECT_EQ(it.seg_begin, it.seg_end);
        got_empty.push_back(ws.tile);
        EXPECT_EQ(head, sched.head_of(ws.tile));
      };
      if (ws.next_item(wl.items.data(), wl.segs.data(), on_empty)) {
        StreamStep step = StreamStep::kNewItem;
        do {
          got.emplace_back(ws.tile, ws.keys.c0);
          ++seen_tiles[ws.tile];
          const int tile_before = ws.tile;
          const bool last = ws.keys.last();
          step = ws.next(wl.items.data(), wl.segs.data(), on_empty);
          EXPECT_EQ(last, step != StreamStep::kSameItem);
          if (step == StreamStep::kSameItem) {
            EXPECT_EQ(ws.tile, tile_before);
          }
        } while (step != StreamStep::kEnd);
      }
      EXPECT_EQ(got, want) << "cta " << cta;
      EXPECT_EQ(got_empty, want_empty) << "cta " << cta;
    }
  }
}

}  // namespace
}  // namespace magi::cuda::sm90
