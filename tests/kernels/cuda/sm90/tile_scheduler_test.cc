// Index maths of the Hopper kernels' persistent schedule (ffa/sm90/tile_scheduler.h,
// schedule.h).
#include "kernels/cuda/ffa/sm90/tile_scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "kernels/cuda/ffa/sm90/schedule.h"
#include "magi/check.h"

namespace magi::cuda::sm90 {
namespace {

// Every tile runs exactly once; a CTA's sequence has no hole; CTAs differ by at most one tile.
TEST(TileScheduler, EveryTileOnceAndBalanced) {
  for (int32_t tiles : {0, 1, 5, 131, 132, 133, 264, 1000, 16384}) {
    for (int32_t sms : {1, 7, 132}) {
      const Schedule cfg = choose_schedule({tiles, 1, sms});
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

// The backward's rounds: one query head's items given a round's worth (grid) of them, else one
// kv head's query heads given grid / heads_per_kv items, else item-major. The forward keeps
// item-major order.
TEST(Schedule, BackwardRoundsShareQueryHeads) {
#if !defined(MAGI_FFA_TILE_GROUP) && !defined(MAGI_FFA_BWD_TILE_GROUP)  // knobs override
  for (int hpk : {1, 2, 8}) {
    const Schedule one = choose_schedule({256, 64, 132, hpk, Pass::kBackward});
    EXPECT_EQ(one.sched.group, 132);
    EXPECT_EQ(one.sched.heads_per_kv, 1);
    for (int32_t t = 0; t < one.sched.grid; ++t) {  // the first round: head 0, items 0..131
      EXPECT_EQ(one.sched.head_of(t), 0) << "tile " << t;
      EXPECT_EQ(one.sched.item_of(t), t) << "tile " << t;
    }
    EXPECT_EQ(choose_schedule({256, 64, 132, hpk, Pass::kForward}).sched.group, 0);
  }
  const Schedule gqa = choose_schedule({100, 64, 132, 8, Pass::kBackward});
  EXPECT_EQ(gqa.sched.group, 132 / 8);
  for (int32_t t = 0; t < gqa.sched.grid && t < 128; ++t) {  // kv head 0, items 0..15
    EXPECT_EQ(gqa.sched.head_of(t) / 8, 0) << "tile " << t;
    EXPECT_LT(gqa.sched.item_of(t), 16) << "tile " << t;
  }
  EXPECT_EQ(choose_schedule({100, 8, 132, 2, Pass::kBackward}).sched.group, 66);
  // Fewer items than a round: item-major (a round would mix long and short items).
  EXPECT_EQ(choose_schedule({131, 16, 132, 1, Pass::kBackward}).sched.group, 0);
  EXPECT_EQ(choose_schedule({15, 64, 132, 8, Pass::kBackward}).sched.group, 0);
  // Few CTAs: groups of one item.
  EXPECT_EQ(choose_schedule({1, 8, 132, 8, Pass::kBackward}).sched.group, 1);
#endif
}

TEST(Schedule, RejectsBadProblems) {
  EXPECT_THROW(choose_schedule({10, 0, 132}), Error);
  EXPECT_THROW(choose_schedule({int64_t{1} << 26, 64, 132}), Error);
  EXPECT_NO_THROW(choose_schedule({0, 8, 132}));
}

}  // namespace
}  // namespace magi::cuda::sm90
