// Index maths of the Hopper kernels' persistent schedule (ffa/sm90/tile_scheduler.h,
// fwd_config.h) and of the key-tile walk the producer and consumers share (key_tiles.h).
#include "kernels/cuda/ffa/sm90/tile_scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "kernels/cuda/ffa/sm90/fwd_config.h"
#include "kernels/cuda/ffa/sm90/key_tiles.h"
#include "kernels/cuda/ffa/work_list.h"
#include "magi/check.h"
#include "testing/random_mask.h"

namespace magi::cuda::sm90 {
namespace {

// Every tile runs exactly once; a CTA's sequence has no hole; CTAs differ by at most one tile.
TEST(TileScheduler, EveryTileOnceAndBalanced) {
  for (int32_t tiles : {0, 1, 5, 131, 132, 133, 264, 1000, 16384}) {
    for (int32_t sms : {1, 7, 132}) {
      const FwdConfig cfg = choose_fwd_config({tiles, 1, sms});
      const TileScheduler& s = cfg.sched;
      EXPECT_EQ(s.grid, std::min(tiles, sms));
      std::vector<int> seen(static_cast<size_t>(tiles), 0);
      int min_count = tiles + 1, max_count = 0;
      for (int cta = 0; cta < s.grid; ++cta) {
        int count = 0, round = 0;
        for (; s.tile(cta, round) >= 0; ++round) {
          const int t = s.tile(cta, round);
          ASSERT_LT(t, tiles);
          ++seen[t];
          ++count;
        }
        for (int later = round; later < round + 3; ++later) EXPECT_LT(s.tile(cta, later), 0);
        min_count = std::min(min_count, count);
        max_count = std::max(max_count, count);
      }
      for (int t = 0; t < tiles; ++t) ASSERT_EQ(seen[t], 1) << "tile " << t;
      if (tiles > 0) {
        EXPECT_LE(max_count - min_count, 1);
      }
    }
  }
}

// Snake order: over a longest-first list, the per-CTA sums of the first two rounds are equal
// (a CTA that takes the longest tile of one round takes the shortest of the next).
TEST(TileScheduler, SnakeBalancesLongestFirst) {
  const int32_t grid = 8, tiles = 64;
  const TileScheduler s{tiles, 1, grid};
  for (int cta = 0; cta < grid; ++cta) {
    const int cost0 = tiles - s.tile(cta, 0), cost1 = tiles - s.tile(cta, 1);
    EXPECT_EQ(cost0 + cost1, (tiles - 0) + (tiles - (2 * grid - 1)));
  }
}

TEST(TileScheduler, ItemAndHead) {
  const TileScheduler s{6 * 64, 64, 132};
  for (int t = 0; t < s.num_tiles; ++t) {
    EXPECT_EQ(s.item_of(t) * 64 + s.head_of(t), t);
    EXPECT_LT(s.head_of(t), 64);
  }
}

// Grouped numbering: a bijection onto (item, head); a kv head's query heads side by side.
TEST(TileScheduler, GroupedNumberingIsABijection) {
  for (int items : {1, 5, 16, 37}) {
    for (int heads : {1, 3, 8}) {
      for (int group : {1, 4, 16})
        for (int hpk : {1, heads}) {
          TileScheduler s{items * heads, heads, 132};
          s.group = group;
          s.heads_per_kv = hpk;
          std::vector<int> seen(items * heads, 0);
          for (int t = 0; t < s.num_tiles; ++t) {
            const int it = s.item_of(t), h = s.head_of(t);
            ASSERT_GE(it, 0);
            ASSERT_LT(it, items);
            ASSERT_GE(h, 0);
            ASSERT_LT(h, heads);
            ++seen[it * heads + h];
            // The query heads of a kv head run side by side.
            if (t > 0 && h % hpk != 0) {
              EXPECT_EQ(s.head_of(t - 1) + 1, h);
              EXPECT_EQ(s.item_of(t - 1), it);
            }
          }
          for (int x : seen) ASSERT_EQ(x, 1);
        }
    }
  }
}

TEST(FwdConfig, RejectsBadProblems) {
  EXPECT_THROW(choose_fwd_config({10, 0, 132}), Error);
  EXPECT_THROW(choose_fwd_config({int64_t{1} << 26, 64, 132}), Error);
  EXPECT_NO_THROW(choose_fwd_config({0, 8, 132}));
}

// The key tiles of each forward item start at every segment's first key, advance by the tile
// width and cover each segment's keys exactly once, in order.
TEST(KeyTiles, CoverEachSegmentOnce) {
  std::mt19937_64 rng(7);
  for (int iter = 0; iter < 200; ++iter) {
    const int64_t sq = 1 + rng() % 700, sk = 1 + rng() % 700;
    const auto slices = make_disjoint(testing::random_slices(rng, sq, sk, 6));
    const WorkList wl = build_fwd_work(slices, sq, 128);
    for (const FfaWorkItem& it : wl.items) {
      if (it.seg_begin == it.seg_end) continue;
      std::vector<std::vector<int>> starts(wl.segs.size());
      KeyTiles<128> keys(wl.segs.data(), it);
      do {
        starts[keys.seg].push_back(keys.c0);
      } while (keys.next(wl.segs.data()));
      for (int g = it.seg_begin; g < it.seg_end; ++g) {
        const FfaSegment& seg = wl.segs[g];
        std::vector<int> want;
        for (int c = seg.k0; c < seg.k1; c += 128) want.push_back(c);
        EXPECT_EQ(starts[g], want) << "segment " << g;
      }
    }
  }
}

}  // namespace
}  // namespace magi::cuda::sm90
