// The backward's traffic replay (ffa/sm90/bwd_traffic.h): the LRU's order and counts, and the
// replay's bytes at the two ends where they are known without it (an L2 that keeps everything:
// each block read once, nothing written; one that keeps nothing: every touch read, every dirty
// part written), and its steps against the plan's own count.
#include "kernels/cuda/ffa/sm90/bwd_traffic.h"

#include <gtest/gtest.h>

#include <set>
#include <utility>
#include <vector>

#include "kernels/cuda/ffa/work_list.h"
#include "kernels/cuda/sm90/bwd_lists.h"
#include "magi/mask.h"

namespace magi::cuda::sm90 {
namespace {

TEST(BlockLru, EvictsTheLeastRecentAndWritesBackDirtyParts) {
  BlockLru l2(300, 4);
  l2.touch(0, 100, 0);
  l2.touch(1, 100, 40);
  l2.touch(2, 100, 0);
  EXPECT_EQ(l2.read, 300);
  l2.touch(0, 100, 0);  // a hit: 0 becomes the most recent
  EXPECT_EQ(l2.read, 300);
  l2.touch(3, 100, 0);  // evicts 1, the least recent, dirty
  EXPECT_EQ(l2.read, 400);
  EXPECT_EQ(l2.written, 40);
  l2.touch(0, 100, 0);  // still there
  EXPECT_EQ(l2.read, 400);
  l2.touch(1, 100, 40);  // read again; evicts 2 (clean)
  EXPECT_EQ(l2.read, 500);
  EXPECT_EQ(l2.written, 40);
}

struct Replayed {
  WorkList list;
  std::vector<int32_t> cost;
  TilePlan plan;
};

/// 8k varlen_causal's documents (bench/cases.json), 16 query heads on 4 kv heads, tiles of
/// `walks` heads, planned on 20 CTAs in chunks of 2 grids.
Replayed plan_of(int32_t walks) {
  Replayed r;
  r.list = build_bwd_work(
      testing::documents({1819, 3310, 4607, 5533, 6518, 7092, 7719, 8192}, AttnMaskType::kCausal),
      8192, 128, 64);
  r.cost = testing::walk_costs(r.list);
  r.plan = plan_tiles(walked_costs(r.cost, walks), 16 / walks, 20, 40);
  return r;
}

TEST(BwdTraffic, ReadsEachBlockOnceWhenTheL2KeepsEverything) {
  for (const int32_t walks : {1, 2, 4}) {
    const Replayed r = plan_of(walks);
    const BwdTraffic t = replay_bwd_traffic(r.plan, r.list.items, r.list.segs,
                                            {16, 4, walks, 128, int64_t{1} << 40});
    std::set<std::pair<int32_t, int32_t>> rows, kv;  // (head, 64-row block), (kv head, key block)
    for (const FfaWorkItem& it : r.list.items) {
      for (int32_t h = 0; h < 16; ++h) {
        if (it.seg_begin == it.seg_end) continue;
        kv.insert({h / 4, it.block_start / 128});
        for (int32_t g = it.seg_begin; g < it.seg_end; ++g) {
          const FfaSegment& s = r.list.segs[static_cast<size_t>(g)];
          for (int32_t q = s.q0; q < s.q1; q += 64) rows.insert({h, q / 64});
        }
      }
    }
    const int64_t row_bytes = 64 * (4 * 128 + 8 + 4 * 128), kv_bytes = 128 * 4 * 128;
    const int64_t dkv = walks < 4 ? std::ssize(kv) * 128 * 8 * 128 : 0;
    EXPECT_EQ(t.read, std::ssize(rows) * row_bytes + std::ssize(kv) * kv_bytes + dkv) << walks;
    EXPECT_EQ(t.written, 0) << walks;
    // Steps: a tile's 4 fixed ones and its walks, and below a whole kv head the dK / dV step.
    const int64_t most = busiest_cta(r.plan, r.cost, 16 / walks, walks, 4);
    if (walks == 4) {
      EXPECT_EQ(t.busiest_steps, most);
    } else {
      EXPECT_GT(t.busiest_steps, most);
    }
  }
}

TEST(BwdTraffic, ReadsEveryTouchWhenTheL2KeepsNothing) {
  const Replayed r = plan_of(2);
  const BwdTraffic t = replay_bwd_traffic(r.plan, r.list.items, r.list.segs, {16, 4, 2, 128, 1});
  int64_t tiles = 0, query_tiles = 0;
  for (const int32_t tile : r.plan.tiles) {
    ++tiles;
    query_tiles += 2 * r.cost[static_cast<size_t>(tile / 8)];
  }
  const int64_t row_bytes = 64 * (4 * 128 + 8 + 4 * 128), dq = 64 * 4 * 128;
  const int64_t kv_bytes = 128 * 4 * 128, dkv = 128 * 8 * 128;
  EXPECT_EQ(t.read, query_tiles * row_bytes + tiles * (kv_bytes + dkv));
  EXPECT_EQ(t.written, query_tiles * dq + tiles * dkv);
}

TEST(BwdTraffic, RejectsTilesThatSplitAKvHeadUnevenly) {
  const Replayed r = plan_of(1);
  EXPECT_THROW(replay_bwd_traffic(r.plan, r.list.items, r.list.segs, {16, 4, 3, 128, 1 << 20}),
               Error);
}

}  // namespace
}  // namespace magi::cuda::sm90
