// The backward's host tile plan (ffa/sm90/tile_plan.h): every tile once, each CTA in key
// order, greedy balance, and the plan's locality against the round-robin rounds.
#include "kernels/cuda/ffa/sm90/tile_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "kernels/cuda/ffa/sm90/tile_scheduler.h"
#include "magi/check.h"

namespace magi::cuda::sm90 {
namespace {

/// A causal list of `n` key blocks (longest first: n, n - 1, ..., 1 query tiles).
std::vector<int32_t> causal_costs(int32_t n) {
  std::vector<int32_t> c(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) c[static_cast<size_t>(i)] = n - i;
  return c;
}

/// The default plan: chunks of two grids, query-head order.
TilePlan default_plan(const std::vector<int32_t>& cost, int32_t heads, int32_t grid) {
  return plan_tiles(cost, heads, grid, 2 * int64_t{grid});
}

/// The deterministic mode's (ffa_cuda.cc): chunks of one tile, head-major, items reversed.
TilePlan det_plan(const std::vector<int32_t>& cost, int32_t heads, int32_t grid,
                  int32_t head_group = 1) {
  return plan_tiles(cost, heads, grid, 1, TileOrder{head_group, true});
}

void expect_valid(const std::vector<int32_t>& cost, int32_t heads, int32_t grid,
                  int64_t chunk_tiles, TileOrder order = {}) {
  const TilePlan plan = plan_tiles(cost, heads, grid, chunk_tiles, order);
  ASSERT_EQ(plan.start.size(), static_cast<size_t>(grid) + 1);
  ASSERT_EQ(plan.start.front(), 0);
  ASSERT_EQ(static_cast<size_t>(plan.start.back()), plan.tiles.size());
  const int64_t items = static_cast<int64_t>(cost.size());
  std::vector<int> seen(static_cast<size_t>(items * heads), 0);
  std::vector<int64_t> load(static_cast<size_t>(grid), 0);
  int64_t max_tile = 0;
  for (int32_t c = 0; c < grid; ++c) {
    ASSERT_LE(plan.start[c], plan.start[c + 1]);
    int64_t last_key = -1;
    for (int32_t at = plan.start[c]; at < plan.start[c + 1]; ++at) {
      const int32_t t = plan.tiles[static_cast<size_t>(at)];
      ASSERT_GE(t, 0);
      ASSERT_LT(t, items * heads);
      ++seen[static_cast<size_t>(t)];
      const int64_t item = t / heads, head = t % heads;
      // Groups of g heads, in a group item (reversed or not), then head.
      const int64_t g =
          order.head_group >= 1 && order.head_group <= heads ? order.head_group : heads;
      const int64_t i = order.reverse_items ? items - 1 - item : item;
      const int64_t key = ((head / g) * items + i) * g + head % g;
      EXPECT_GT(key, last_key) << "CTA " << c << " runs its tiles out of key order";
      last_key = key;
      const int64_t w = cost[static_cast<size_t>(item)] + 1;
      load[static_cast<size_t>(c)] += w;
      max_tile = std::max(max_tile, w);
    }
  }
  for (int64_t t = 0; t < items * heads; ++t) {
    EXPECT_EQ(seen[static_cast<size_t>(t)], cost[static_cast<size_t>(t / heads)] > 0 ? 1 : 0)
        << "tile " << t;
  }
  // Greedy list scheduling: no CTA ends more than one tile after the least loaded one.
  const auto [lo, hi] = std::minmax_element(load.begin(), load.end());
  if (grid > 1 && plan.tiles.size() >= static_cast<size_t>(grid)) {
    EXPECT_LE(*hi - *lo, max_tile);
  }
}

TEST(TilePlan, EveryTileOnceInKeyOrderAndBalanced) {
  expect_valid(causal_costs(64), 16, 132, 264);               // 8k causal, hd 128 MHA
  expect_valid(causal_costs(64), 64, 132, 264);               // 8k causal, 64 query heads
  expect_valid(std::vector<int32_t>(256, 128), 8, 132, 264);  // 32k full
  expect_valid(causal_costs(3), 2, 132, 264);                 // fewer tiles than CTAs
  expect_valid({5}, 1, 1, 1);
  std::mt19937 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<int32_t> cost(1 + rng() % 300);
    for (int32_t& c : cost) c = static_cast<int32_t>(rng() % 4 == 0 ? 0 : 1 + rng() % 64);
    std::sort(cost.rbegin(), cost.rend());
    expect_valid(cost, 1 + static_cast<int32_t>(rng() % 16), 1 + static_cast<int32_t>(rng() % 132),
                 1 + static_cast<int32_t>(rng() % 300),
                 TileOrder{static_cast<int32_t>(rng() % 20), trial % 2 == 1});
  }
  for (const int32_t group : {0, 1, 4, 16}) {
    expect_valid(causal_costs(64), 16, 132, 1, TileOrder{group, true});
  }
}

/// Replays per-CTA tile lists with the tile costs as times; returns the most query heads
/// whose tiles run at one time (at any tile's start).
int heads_at_once(const std::vector<std::vector<int32_t>>& lists, const std::vector<int32_t>& cost,
                  int32_t heads) {
  struct Run {
    int64_t begin, end;
    int32_t head;
  };
  std::vector<Run> runs;
  for (const std::vector<int32_t>& own : lists) {
    int64_t t = 0;
    for (int32_t tile : own) {
      const int64_t w = cost[static_cast<size_t>(tile / heads)] + 1;
      runs.push_back({t, t + w, tile % heads});
      t += w;
    }
  }
  size_t most = 0;
  for (const Run& r : runs) {
    std::vector<bool> on(static_cast<size_t>(heads), false);
    for (const Run& o : runs) {
      if (o.begin <= r.begin && r.begin < o.end) on[static_cast<size_t>(o.head)] = true;
    }
    most = std::max(most, static_cast<size_t>(std::count(on.begin(), on.end(), true)));
  }
  return static_cast<int>(most);
}

// Locality: the tiles running at one time span a few query heads; the item-major rounds of
// the same causal 8k list span all 16.
TEST(TilePlan, TilesRunningTogetherShareFewHeads) {
  const std::vector<int32_t> cost = causal_costs(64);
  const int32_t heads = 16, grid = 132;
  const auto lists = [&](int32_t chunk_grids) {
    const TilePlan plan = plan_tiles(cost, heads, grid, int64_t{chunk_grids} * grid);
    std::vector<std::vector<int32_t>> own(grid);
    for (int32_t c = 0; c < grid; ++c) {
      own[c].assign(plan.tiles.begin() + plan.start[c], plan.tiles.begin() + plan.start[c + 1]);
    }
    return own;
  };
  std::vector<std::vector<int32_t>> rounds(grid);
  const TileScheduler sched{64 * heads, heads, grid};  // item-major
  for (int32_t c = 0; c < grid; ++c) {
    for (int32_t r = 0; sched.tile(c, r) >= 0; ++r) rounds[c].push_back(sched.tile(c, r));
  }
  EXPECT_EQ(heads_at_once(rounds, cost, heads), heads);
  EXPECT_LE(heads_at_once(lists(2), cost, heads), 9);
  EXPECT_LE(heads_at_once(lists(1), cost, heads), 6);
}

/// Replays a plan of a causal list (item i walks query tiles [i, n), one time unit each; with
/// `full`, [0, n)) with the deterministic mode's dQ turns: a tile's add into a query tile (a
/// time units, after its compute, one buffer) waits for the add before it in turn order, items
/// in reverse list order when `reverse_turns` (work_list.h, add_row_turns), else in list order.
/// Returns the makespan, or -1 when the CTAs deadlock.
double replay_turns(const TilePlan& plan, int32_t n, int32_t heads, bool turns, bool reverse_turns,
                    bool full = false, double a = 0.25) {
  const auto first_row = [&](int32_t item) { return full ? 0 : item; };
  const int32_t grid = static_cast<int32_t>(plan.start.size()) - 1;
  // done[(head * n + row) * n + item]: when that add ended (< 0: not yet).
  std::vector<double> done(static_cast<size_t>(heads) * n * n, -1.0);
  struct Cta {
    int32_t at, step;
    double compute, writer;
  };
  std::vector<Cta> ctas(static_cast<size_t>(grid));
  for (int32_t c = 0; c < grid; ++c) ctas[c] = {plan.start[c], 0, 0.0, 0.0};
  for (bool progress = true; progress;) {
    progress = false;
    for (int32_t c = 0; c < grid; ++c) {
      Cta& k = ctas[c];
      while (k.at < plan.start[c + 1]) {
        const int32_t tile = plan.tiles[static_cast<size_t>(k.at)];
        const int32_t item = tile / heads, head = tile % heads, row = first_row(item) + k.step;
        const double compute = std::max(k.compute, k.writer) + (k.step == 0 ? 2.0 : 1.0);
        double writer = compute;
        // The add before this one into (head, row): the next (reverse) or previous item.
        const int32_t prev = reverse_turns ? item + 1 : item - 1;
        if (turns && prev >= 0 && prev < n && first_row(prev) <= row) {
          const double t = done[(static_cast<size_t>(head) * n + row) * n + prev];
          if (t < 0) break;
          writer = std::max(writer, t);
        }
        writer += a;
        done[(static_cast<size_t>(head) * n + row) * n + item] = writer;
        k.compute = compute;
        k.writer = writer;
        progress = true;
        if (++k.step == n - first_row(item)) {
          k.step = 0;
          ++k.at;
        }
      }
    }
  }
  double end = 0;
  for (int32_t c = 0; c < grid; ++c) {
    if (ctas[c].at < plan.start[c + 1]) return -1.0;
    end = std::max(end, std::max(ctas[c].compute, ctas[c].writer));
  }
  return end;
}

// The deterministic mode's plan: its turns cost little against the default plan without turns
// (the tail of one-tile chunks, 8k with 16 heads, most: 1.12x); longest-first chunks of the
// same order queue at every row (v29: 0.25x on the H200 at 8k causal), as do list-order turns.
TEST(TilePlan, DeterministicPlanKeepsTurnWaitsSmall) {
  for (const int32_t n : {64, 256}) {  // causal 8k, 32k
    for (const int32_t heads : {16, 64}) {
      const int32_t grid = 132;
      const std::vector<int32_t> cost = causal_costs(n);
      const double free = replay_turns(default_plan(cost, heads, grid), n, heads, false, false);
      const double det = replay_turns(det_plan(cost, heads, grid), n, heads, true, true);
      ASSERT_GT(det, 0) << "deadlock";
      EXPECT_LT(det, (n == 64 && heads == 16 ? 1.15 : 1.05) * free) << n << " " << heads;
      // The turns cost almost nothing: the same plan replayed without them.
      EXPECT_LT(det, 1.01 * replay_turns(det_plan(cost, heads, grid), n, heads, false, true));
      const double longest_first =
          replay_turns(plan_tiles(cost, heads, grid, 2 * int64_t{grid}, TileOrder{1, true}), n,
                       heads, true, true);
      const double list_order =
          replay_turns(default_plan(cost, heads, grid), n, heads, true, false);
      ASSERT_GT(longest_first, 0) << "deadlock";
      ASSERT_GT(list_order, 0) << "deadlock";
      EXPECT_GT(std::min(longest_first, list_order), 1.25 * free) << n << " " << heads;
      for (const int32_t group : {0, 4}) {  // other head groups: no deadlock either
        EXPECT_GT(replay_turns(det_plan(cost, heads, grid, group), n, heads, true, true), 0);
      }
    }
  }
}

// Full masks: every key block walks every row block from the first; same plan, same result.
TEST(TilePlan, DeterministicPlanOnFullMasks) {
  for (const int32_t n : {64, 256}) {
    const int32_t heads = 16, grid = 132;
    const std::vector<int32_t> cost(static_cast<size_t>(n), n);
    const double free = replay_turns(default_plan(cost, heads, grid), n, heads, false, false, true);
    const double det = replay_turns(det_plan(cost, heads, grid), n, heads, true, true, true);
    ASSERT_GT(det, 0) << "deadlock";
    EXPECT_LT(det, 1.1 * free) << "n " << n;
  }
}

TEST(TilePlan, RejectsBadShapes) {
  EXPECT_THROW(plan_tiles({1, 2}, 0, 132, 1), Error);
  EXPECT_THROW(plan_tiles({1, 2}, 4, 0, 1), Error);
  EXPECT_THROW(plan_tiles({1, 2}, 4, 132, 0), Error);
}

}  // namespace
}  // namespace magi::cuda::sm90
