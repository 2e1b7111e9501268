// The forward's tile plan (ffa/sm90/fwd_plan.h): every key tile of every tile once, pieces
// numbered consistently, the balance against the scheduler's rounds, and the CTA pairs (query
// heads of one kv head, or twins: items of one key class).
#include "kernels/cuda/ffa/sm90/fwd_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "kernels/cuda/ffa/work_list.h"

namespace magi::cuda::sm90 {
namespace {

/// Checks that `plan` covers each tile's key tiles [0, n) exactly once, in pieces of at least
/// cost.min_piece key tiles whose workspace slots are their cut's, in key order, with distinct
/// slots; and that its kernel form lists each CTA's units, then a sentinel.
void expect_valid(const FwdPlan& plan, const std::vector<int32_t>& item_tiles, int32_t heads,
                  int32_t grid, const FwdCost& cost) {
  ASSERT_EQ(plan.start.size(), static_cast<size_t>(grid) + 1);
  EXPECT_EQ(plan.start.front(), 0);
  EXPECT_EQ(plan.start.back(), static_cast<int32_t>(plan.units.size()));
  std::map<int32_t, std::vector<FwdUnit>> by_tile;
  for (const FwdUnit& u : plan.units) by_tile[u.tile].push_back(u);
  ASSERT_EQ(by_tile.size(), item_tiles.size() * static_cast<size_t>(heads));
  std::map<int32_t, FwdCut> cut_of;
  for (const FwdCut& c : plan.cuts) EXPECT_TRUE(cut_of.insert({c.tile, c}).second);
  std::set<int32_t> slots;
  for (auto& [tile, units] : by_tile) {
    const int32_t n = item_tiles[static_cast<size_t>(tile / heads)];
    std::sort(units.begin(), units.end(),
              [](const FwdUnit& a, const FwdUnit& b) { return a.first < b.first; });
    int32_t next = 0;
    for (size_t p = 0; p < units.size(); ++p) {
      const FwdUnit& u = units[p];
      EXPECT_EQ(u.first, next) << "tile " << tile;
      next += u.count;
      if (units.size() == 1) {
        EXPECT_EQ(u.split, -1);
        EXPECT_EQ(cut_of.count(tile), 0u);
        continue;
      }
      EXPECT_GE(u.count, cost.min_piece) << "tile " << tile;
      ASSERT_EQ(cut_of.count(tile), 1u) << "tile " << tile;
      EXPECT_EQ(cut_of[tile].pieces, static_cast<int32_t>(units.size()));
      EXPECT_EQ(u.split, cut_of[tile].base + static_cast<int32_t>(p));
      EXPECT_TRUE(slots.insert(u.split).second);
    }
    EXPECT_EQ(next, n) << "tile " << tile;
    EXPECT_LE(units.size(), static_cast<size_t>(kFwdMaxPieces));
  }
  EXPECT_EQ(static_cast<int32_t>(slots.size()), plan.pieces);
  EXPECT_EQ(cut_of.size(), plan.cuts.size());
  if (!slots.empty()) {
    EXPECT_EQ(*slots.rbegin(), plan.pieces - 1);
  }
  const FwdKernelPlan k = kernel_form(plan);
  ASSERT_EQ(k.start.size(), static_cast<size_t>(grid));
  ASSERT_EQ(k.units.size(), plan.units.size() + static_cast<size_t>(grid));
  for (int32_t c = 0; c < grid; ++c) {
    const int32_t own = plan.start[c + 1] - plan.start[c];
    for (int32_t i = 0; i < own; ++i) {
      EXPECT_EQ(k.units[k.start[c] + i].tile, plan.units[plan.start[c] + i].tile);
    }
    EXPECT_EQ(k.units[k.start[c] + own].tile, -1);
  }
}

TEST(ForwardPlan, CoversEveryKeyTileOnce) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<int32_t> tiles(std::uniform_int_distribution<size_t>(1, 120)(rng));
    for (int32_t& t : tiles) t = std::uniform_int_distribution<int32_t>(0, 300)(rng);
    std::sort(tiles.begin(), tiles.end(), std::greater<>());
    const int32_t heads = std::uniform_int_distribution<int32_t>(1, 24)(rng);
    const int32_t grid = std::uniform_int_distribution<int32_t>(1, 132)(rng);
    const FwdCost cost{176.0, 200.0, 720.0, 160.0,
                       std::uniform_int_distribution<int32_t>(1, 4)(rng)};
    const FwdPlan plan = plan_fwd(tiles, heads, grid, cost);
    expect_valid(plan, tiles, heads, grid, cost);
    // Never worse than the rounds by more than a piece's overhead plus one key tile.
    const int32_t rounds_grid = std::min<int32_t>(grid, static_cast<int32_t>(tiles.size()) * heads);
    const FwdPlan rounds_plan = fwd_rounds_plan(tiles, heads, rounds_grid, cost);
    expect_valid(rounds_plan, tiles, heads, rounds_grid, cost);
    EXPECT_EQ(rounds_plan.pieces, 0);
    const double rounds = rounds_plan.makespan;
    EXPECT_LE(plan.makespan, rounds + cost.fixed + cost.piece + cost.key_tile) << trial;
  }
}

// 1024 equal tiles on 132 CTAs are 7.76 rounds: the rounds take 8 tiles' time, the plan about
// the average plus a piece.
TEST(ForwardPlan, FillsTheLastRound) {
  const std::vector<int32_t> tiles(64, 47);  // 8k keys in 176-key tiles, 64 items
  const FwdCost cost{176.0, 200.0, 720.0, 160.0, 2};
  const FwdPlan plan = plan_fwd(tiles, 16, 132, cost);
  expect_valid(plan, tiles, 16, 132, cost);
  const double tile = 47 * cost.key_tile + cost.fixed;
  EXPECT_DOUBLE_EQ(fwd_rounds_plan(tiles, 16, 132, cost).makespan, cost.first + 8 * tile);
  EXPECT_LT(plan.makespan,
            cost.first + 1024 * tile / 132 + cost.fixed + 2 * cost.piece + cost.key_tile);
  EXPECT_LT(plan.makespan, 0.98 * (cost.first + 8 * tile));
  EXPECT_GT(plan.pieces, 0);
  EXPECT_LE(plan.pieces, 3 * 132);
  // Exactly 8 rounds: nothing to cut.
  const std::vector<int32_t> even(66, 47);
  const FwdPlan whole = plan_fwd(even, 16, 132, cost);
  expect_valid(whole, even, 16, 132, cost);
  EXPECT_EQ(whole.pieces, 0);
  EXPECT_DOUBLE_EQ(whole.makespan, cost.first + 8 * tile);
}

// Fewer tiles than CTAs: the plan cuts them to use every CTA.
TEST(ForwardPlan, CutsFewLongTiles) {
  const std::vector<int32_t> tiles(4, 64);
  const FwdCost cost{176.0, 200.0, 720.0, 160.0, 2};
  const FwdPlan plan = plan_fwd(tiles, 2, 132, cost);
  expect_valid(plan, tiles, 2, 132, cost);
  EXPECT_GT(plan.pieces, 8);
  EXPECT_LT(plan.makespan, 0.5 * (cost.first + 64 * cost.key_tile + cost.fixed));
}

// CTA pairs (fwd_plan_pairs): the scheduler's rounds on an even grid pair query heads of one kv
// head that walk the same item, whatever the items; any difference in a pair's walks unpairs.
TEST(ForwardPlan, PairsOfTheRounds) {
  std::mt19937 rng(5);
  const FwdCost cost{176.0, 200.0, 720.0, 160.0, 2};
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<int32_t> tiles(std::uniform_int_distribution<size_t>(1, 80)(rng));
    for (int32_t& t : tiles) t = std::uniform_int_distribution<int32_t>(0, 60)(rng);
    const int32_t per_kv = 2 * std::uniform_int_distribution<int32_t>(1, 4)(rng);
    const int32_t heads = per_kv * std::uniform_int_distribution<int32_t>(1, 4)(rng);
    const int32_t tiles_all = static_cast<int32_t>(tiles.size()) * heads;
    const int32_t grid =
        std::min(tiles_all, 2 * std::uniform_int_distribution<int32_t>(1, 66)(rng));
    const FwdKernelPlan k = kernel_form(fwd_rounds_plan(tiles, heads, grid, cost));
    EXPECT_TRUE(fwd_plan_pairs(k, heads, per_kv)) << "trial " << trial;
    // Query heads of different kv heads side by side: MHA pairs nothing.
    EXPECT_FALSE(fwd_plan_pairs(k, heads, 1)) << "trial " << trial;
  }
  const std::vector<int32_t> tiles(10, 7);
  // An odd grid leaves a CTA alone.
  EXPECT_FALSE(fwd_plan_pairs(kernel_form(fwd_rounds_plan(tiles, 8, 131, cost)), 8, 8));
  FwdKernelPlan k = kernel_form(fwd_rounds_plan(tiles, 8, 4, cost));
  ASSERT_TRUE(fwd_plan_pairs(k, 8, 8));
  // One unit of CTA 1 walks a key tile fewer than its partner's.
  FwdKernelPlan shorter = k;
  shorter.units[static_cast<size_t>(shorter.start[1]) + 2].count -= 1;
  EXPECT_FALSE(fwd_plan_pairs(shorter, 8, 8));
  // CTA 3's list ends a unit early.
  FwdKernelPlan early = k;
  early.units[static_cast<size_t>(early.start[3]) + 1].tile = -1;
  EXPECT_FALSE(fwd_plan_pairs(early, 8, 8));
  // CTA 2's first unit is another item's.
  FwdKernelPlan other = k;
  other.units[static_cast<size_t>(other.start[2])].tile += 8;
  EXPECT_FALSE(fwd_plan_pairs(other, 8, 8));
}

// Key classes (fwd_key_classes): the same key ranges in the same order, whatever the rows and
// diagonals, make one class; numbered in list order.
TEST(ForwardPlan, KeyClasses) {
  const std::vector<FfaSegment> segs = {
      {0, 128, 0, 512, -512, 512}, {128, 256, 0, 512, 0, 1},     // items 0, 1: one range each
      {256, 384, 0, 256, -256, 0}, {256, 384, 256, 512, 0, 9},   // item 2: two ranges
      {384, 512, 256, 512, -9, 9}, {384, 512, 0, 256, 0, 1},     // item 3: item 2's, swapped
      {512, 640, 0, 256, 0, 1},    {512, 640, 256, 512, 0, 1}};  // item 4: item 2's ranges
  const std::vector<FfaWorkItem> items = {
      {0, 128, 0, 1, 0, 0},   {128, 256, 1, 2, 0, 0}, {256, 384, 2, 4, 0, 0},
      {384, 512, 4, 6, 0, 0}, {512, 640, 6, 8, 0, 0}, {640, 768, 8, 8, 0, 0}};  // 5: no keys
  EXPECT_EQ(fwd_key_classes(items, segs), (std::vector<int32_t>{0, 0, 1, 2, 1, 3}));
}

// Twins (fwd_twin_rounds_plan): with one query head per kv head the rounds pair nothing, the
// twins' rounds pair every CTA with its neighbour on two items of one key class, cover every
// tile once, and are no slower in the model than the rounds where every item has a twin.
TEST(ForwardPlan, TwinsPairWhereHeadsCannot) {
  const FwdCost cost{176.0, 200.0, 720.0, 160.0, 2};
  const std::vector<int32_t> full(64, 47), same(64, 0);
  const FwdPlan rounds = fwd_rounds_plan(full, 16, 132, cost);
  EXPECT_FALSE(fwd_plan_pairs(kernel_form(rounds), 16, 1, same));
  const FwdPlan twins = fwd_twin_rounds_plan(full, same, 16, 132, cost);
  expect_valid(twins, full, 16, 132, cost);
  EXPECT_TRUE(fwd_plan_pairs(kernel_form(twins), 16, 1, same));
  EXPECT_FALSE(fwd_plan_pairs(kernel_form(twins), 16, 1));  // items differ, classes unknown
  EXPECT_LE(twins.makespan, rounds.makespan);
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    // Classes of two or four items each, in random list positions.
    const int32_t twins_n = std::uniform_int_distribution<int32_t>(1, 40)(rng);
    std::vector<int32_t> cls;
    for (int32_t t = 0; t < twins_n; ++t) cls.insert(cls.end(), 2, t / 2);
    std::shuffle(cls.begin(), cls.end(), rng);
    std::vector<int32_t> class_tiles(static_cast<size_t>(twins_n));
    for (int32_t& n : class_tiles) n = std::uniform_int_distribution<int32_t>(0, 60)(rng);
    std::vector<int32_t> tiles;
    for (const int32_t c : cls) tiles.push_back(class_tiles[static_cast<size_t>(c)]);
    const int32_t heads = std::uniform_int_distribution<int32_t>(1, 8)(rng);
    const int sms = std::uniform_int_distribution<int>(2, 132)(rng);
    const FwdPlan p = fwd_twin_rounds_plan(tiles, cls, heads, sms, cost);
    const int32_t grid = 2 * std::min(twins_n * heads, sms / 2);
    expect_valid(p, tiles, heads, grid, cost);
    EXPECT_TRUE(fwd_plan_pairs(kernel_form(p), heads, 1, cls)) << "trial " << trial;
  }
  // A class of three items leaves one alone; one multiprocessor holds no pair.
  EXPECT_TRUE(
      fwd_twin_rounds_plan(std::vector<int32_t>(3, 5), std::vector<int32_t>(3, 0), 4, 132, cost)
          .start.empty());
  EXPECT_TRUE(fwd_twin_rounds_plan(full, same, 16, 1, cost).start.empty());
}

// Key classes of real forward lists (build_fwd_work): every row block of a full mask walks the
// same keys, so an MHA forward of it twins whenever its blocks are even in number; each document
// of a varlen full mask is a class of its own blocks; a causal mask's blocks are all different.
TEST(ForwardPlan, KeyClassesOfRealLists) {
  const FwdCost cost{176.0, 200.0, 720.0, 160.0, 2};
  const auto classes = [](std::vector<AttnSlice> slices, int64_t s) {
    const WorkList w = build_fwd_work(slices, s, 128);
    return fwd_key_classes(w.items, w.segs);
  };
  const std::vector<int32_t> full = classes({{{0, 1000}, {0, 1000}, AttnMaskType::kFull}}, 1000);
  EXPECT_EQ(full, std::vector<int32_t>(8, 0));
  EXPECT_FALSE(fwd_twin_rounds_plan(std::vector<int32_t>(8, 6), full, 4, 132, cost).start.empty());
  // Documents of 512 and 384 rows: 4 and 3 blocks; the odd one leaves a block without a twin.
  const std::vector<int32_t> docs = classes(
      {{{0, 512}, {0, 512}, AttnMaskType::kFull}, {{512, 896}, {512, 896}, AttnMaskType::kFull}},
      896);
  ASSERT_EQ(docs.size(), 7u);
  EXPECT_EQ(std::count(docs.begin(), docs.end(), docs[0]), 4);
  EXPECT_EQ(std::count(docs.begin(), docs.end(), docs[6]), 3);
  EXPECT_TRUE(fwd_twin_rounds_plan(std::vector<int32_t>(7, 3), docs, 4, 132, cost).start.empty());
  const std::vector<int32_t> causal =
      classes({{{0, 1024}, {0, 1024}, AttnMaskType::kCausal}}, 1024);
  EXPECT_EQ(std::set<int32_t>(causal.begin(), causal.end()).size(), causal.size());
}

}  // namespace
}  // namespace magi::cuda::sm90
