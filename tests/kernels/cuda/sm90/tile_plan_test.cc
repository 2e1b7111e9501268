// The backward's host tile plan (ffa/sm90/tile_plan.h): every tile once, each CTA in key
// order, greedy balance, the plan's locality against the round-robin rounds, and the
// deterministic mode's plan replayed with its turns (work_list.h: add_row_turns).
#include "kernels/cuda/ffa/sm90/tile_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/ffa/sm90/tile_scheduler.h"
#include "kernels/cuda/ffa/work_list.h"
#include "kernels/cuda/sm90/bwd_lists.h"
#include "magi/check.h"

namespace magi::cuda::sm90 {
namespace {

using testing::documents;
using testing::walk_costs;

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

/// The deterministic mode's (ffa_cuda.cc): chunks of one tile, head-major.
TilePlan det_plan(const std::vector<int32_t>& cost, int32_t heads, int32_t grid,
                  int32_t head_group = 1) {
  return plan_tiles(cost, heads, grid, 1, TileOrder{head_group});
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
      // Groups of g heads, in a group item, then head.
      const int64_t g =
          order.head_group >= 1 && order.head_group <= heads ? order.head_group : heads;
      const int64_t key = ((head / g) * items + item) * g + head % g;
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
                 TileOrder{static_cast<int32_t>(rng() % 20)});
  }
  for (const int32_t group : {0, 1, 4, 16}) {
    expect_valid(causal_costs(64), 16, 132, 1, TileOrder{group});
  }
}

/// Replays per-CTA tile lists with the tile costs as times (a piece of a cut tile, numbered
/// after the items, its count of query tiles); returns the most query heads whose tiles run at
/// one time (at any tile's start).
int heads_at_once(const std::vector<std::vector<int32_t>>& lists, const std::vector<int32_t>& cost,
                  int32_t heads, const std::vector<TilePiece>& pieces = {}) {
  struct Run {
    int64_t begin, end;
    int32_t head;
  };
  std::vector<Run> runs;
  for (const std::vector<int32_t>& own : lists) {
    int64_t t = 0;
    for (int32_t tile : own) {
      const size_t item = static_cast<size_t>(tile / heads);
      const int64_t w = (item < cost.size() ? cost[item] : pieces[item - cost.size()].count) + 1;
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

/// A plan's per-CTA tile lists.
std::vector<std::vector<int32_t>> cta_lists(const TilePlan& plan) {
  std::vector<std::vector<int32_t>> own(plan.start.size() - 1);
  for (size_t c = 0; c + 1 < plan.start.size(); ++c) {
    own[c].assign(plan.tiles.begin() + plan.start[c], plan.tiles.begin() + plan.start[c + 1]);
  }
  return own;
}

/// The deterministic work list of `slices` (as prepared_work.cc builds it: anchored key blocks
/// of 128, row tiles of 64, in turn order) and each item's walk (its row tiles).
struct DetList {
  WorkList wl;
  std::vector<std::vector<int64_t>> walks;
  std::vector<int32_t> cost;
};
DetList det_list(const std::vector<AttnSlice>& slices, int64_t total_k,
                 BwdKeyBlocks blocks = BwdKeyBlocks::kAnchored) {
  DetList d{build_bwd_work(slices, total_k, 128, 64, blocks), {}, {}};
  add_row_turns(d.wl, 64);
  for (const FfaWorkItem& it : d.wl.items) {
    std::vector<int64_t> rows;
    for (int32_t g = it.seg_begin; g < it.seg_end; ++g) {
      const FfaSegment& s = d.wl.segs[static_cast<size_t>(g)];
      for (int64_t r = s.q0 / 64 * 64; r < s.q1; r += 64) rows.push_back(r / 64);
    }
    d.cost.push_back(static_cast<int32_t>(rows.size()));
    d.walks.push_back(std::move(rows));
  }
  return d;
}

/// Replays `plan` over `d` with the tile costs as times (one unit per row tile, one more for
/// an item's K / V load), and with `turns` the deterministic mode's: a tile's dQ add into a
/// row tile (`a` units, after its compute, one buffer) waits for the add before it in turn
/// order. Returns the makespan, or -1 when the CTAs deadlock.
double replay(const TilePlan& plan, const DetList& d, int32_t heads, bool turns, double a = 0.25) {
  const int32_t grid = static_cast<int32_t>(plan.start.size()) - 1;
  struct Row {
    int32_t adds = 0;  // done so far
    double last = 0;   // when the last one ended
  };
  int64_t row_tiles = 0;
  for (const std::vector<int64_t>& walk : d.walks) {
    for (const int64_t r : walk) row_tiles = std::max(row_tiles, r + 1);
  }
  std::vector<Row> rows(static_cast<size_t>(row_tiles * heads));  // per (row tile, head)
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
        const int32_t item = tile / heads, head = tile % heads;
        const std::vector<int64_t>& walk = d.walks[static_cast<size_t>(item)];
        Row& row = rows[static_cast<size_t>(walk[static_cast<size_t>(k.step)] * heads + head)];
        const int32_t turn =
            d.wl.row_turns[static_cast<size_t>(d.wl.items[item].turn_begin + k.step)];
        if (turns && row.adds != turn) break;
        const double compute = std::max(k.compute, k.writer) + (k.step == 0 ? 2.0 : 1.0);
        const double writer = (turns ? std::max(compute, row.last) : compute) + a;
        ++row.adds;
        row.last = writer;
        k.compute = compute;
        k.writer = writer;
        progress = true;
        if (++k.step == static_cast<int32_t>(walk.size())) {
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
// (the tail of one-tile chunks, 8k causal with 16 heads, most: about 1.15x), on one causal
// mask and on documents whose ends straddle key blocks (ordered longest first, reversed, such
// a block waited for its first document's longer blocks at every row: 0.55-0.62x, v29).
// Longest-first chunks of the same order queue at every row (0.25x on the H200 at 8k causal).
TEST(TilePlan, DeterministicPlanKeepsTurnWaitsSmall) {
  const auto causal = AttnMaskType::kCausal;
  // The bench's varlen causal at 32k (bench/cases.json): its documents' ends straddle blocks.
  const std::vector<int64_t> docs = {7275, 13237, 18425, 22130, 26069, 28368, 30878, 32768};
  std::vector<int64_t> docs8k;
  for (const int64_t e : docs) docs8k.push_back(e / 4);
  const struct {
    std::vector<AttnSlice> slices;
    int64_t total;
    double bound;  // det / free at 16 heads (64 heads: 1.05)
  } cases[] = {
      {documents({8192}, causal), 8192, 1.2},
      {documents({32768}, causal), 32768, 1.05},
      {documents(docs, causal), 32768, 1.05},
      {documents(docs8k, causal), 8192, 1.2},
      {documents({32768}, AttnMaskType::kFull), 32768, 1.05},
  };
  // Global blocks too: the anchored list keeps them where a slice crosses a document's start
  // (stepped sliding windows), and there a block straddles documents.
  for (const auto& c : cases) {
    for (const BwdKeyBlocks blocks : {BwdKeyBlocks::kAnchored, BwdKeyBlocks::kGlobal}) {
      const DetList d = det_list(c.slices, c.total, blocks);
      for (const int32_t heads : {16, 64}) {
        if (heads == 64 && c.total > 8192) continue;  // (the sanitizer builds' time)
        const int32_t grid = 132;
        const std::string what = std::to_string(c.total) + ", " + std::to_string(c.slices.size()) +
                                 " documents, " + std::to_string(heads) + " heads, " +
                                 (blocks == BwdKeyBlocks::kGlobal ? "global" : "anchored");
        const double free = replay(default_plan(d.cost, heads, grid), d, heads, false);
        const double det = replay(det_plan(d.cost, heads, grid), d, heads, true);
        ASSERT_GT(det, 0) << "deadlock: " << what;
        EXPECT_LT(det, (heads == 16 ? c.bound : 1.05) * free) << what;
        // The turns cost almost nothing: the same plan replayed without them.
        EXPECT_LT(det, 1.01 * replay(det_plan(d.cost, heads, grid), d, heads, false)) << what;
        for (const int32_t group : {0, 4}) {  // other head groups: no deadlock either
          EXPECT_GT(replay(det_plan(d.cost, heads, grid, group), d, heads, true), 0) << what;
        }
        if (c.slices.size() == 1 && c.slices[0].type == causal) {
          const double longest_first = replay(
              plan_tiles(d.cost, heads, grid, 2 * int64_t{grid}, TileOrder{1}), d, heads, true);
          ASSERT_GT(longest_first, 0) << "deadlock: " << what;
          EXPECT_GT(longest_first, 1.15 * free) << what;
        }
      }
    }
  }
}

/// Checks a plan with cut tiles (the default order): every query tile of every tile runs once
/// (whole, or in the two pieces of its cut, which cover its walk in order on two CTAs), each CTA
/// in key order (a piece at its tile's place); returns the most loaded CTA's work (walk + `fixed`
/// per tile or piece).
int64_t check_cut_plan(const TilePlan& plan, const std::vector<int32_t>& cost, int32_t heads,
                       int32_t grid, int64_t fixed = TileCuts{}.tile_cost) {
  const int64_t items = static_cast<int64_t>(cost.size());
  EXPECT_EQ(plan.start.size(), static_cast<size_t>(grid) + 1);
  if (plan.start.size() != static_cast<size_t>(grid) + 1) return 0;
  EXPECT_EQ(plan.start.front(), 0);
  EXPECT_EQ(static_cast<size_t>(plan.start.back()), plan.tiles.size());
  EXPECT_TRUE(std::is_sorted(plan.start.begin(), plan.start.end()));
  std::vector<int> whole(static_cast<size_t>(items * heads), 0);
  std::vector<int> in_pieces(static_cast<size_t>(items * heads), 0);
  std::vector<int> piece_seen(plan.pieces.size(), 0);
  EXPECT_EQ(plan.pieces.size() % 2, 0u);
  for (size_t p = 0; p + 1 < plan.pieces.size(); p += 2) {
    const TilePiece &a = plan.pieces[p], &b = plan.pieces[p + 1];
    EXPECT_EQ(a.tile, b.tile);
    EXPECT_EQ(a.first, 0);
    EXPECT_EQ(b.first, a.count);
    EXPECT_GE(a.count, 2);
    EXPECT_GE(b.count, 2);
    EXPECT_EQ(a.count + b.count, cost[static_cast<size_t>(a.tile / heads)]);
    in_pieces[static_cast<size_t>(a.tile)] += 1;
  }
  int64_t most = 0;
  for (int32_t c = 0; c < grid; ++c) {
    int64_t load = 0, last_key = -1;
    std::vector<int32_t> cta_pieces;
    for (int32_t at = plan.start[c]; at < plan.start[c + 1]; ++at) {
      const int32_t t = plan.tiles[static_cast<size_t>(at)];
      const int64_t item = t / heads;
      int64_t tile = t;  // the whole tile this is, or of which it is a piece
      if (item < items) {
        ++whole[static_cast<size_t>(t)];
        load += cost[static_cast<size_t>(item)] + fixed;
      } else {
        const size_t p = static_cast<size_t>(item - items);
        EXPECT_LT(p, plan.pieces.size());
        if (p >= plan.pieces.size()) continue;
        EXPECT_EQ(t % heads, plan.pieces[p].tile % heads);
        ++piece_seen[p];
        cta_pieces.push_back(plan.pieces[p].tile);
        load += plan.pieces[p].count + fixed;
        tile = plan.pieces[p].tile;
      }
      // The default order's key: head-major, items innermost (TileOrder: one head a group).
      const int64_t key = (tile % heads) * items + tile / heads;
      EXPECT_GT(key, last_key) << "CTA " << c << " runs its tiles out of key order";
      last_key = key;
    }
    // The two pieces of a cut tile run on two CTAs.
    std::sort(cta_pieces.begin(), cta_pieces.end());
    EXPECT_EQ(std::adjacent_find(cta_pieces.begin(), cta_pieces.end()), cta_pieces.end());
    most = std::max(most, load);
  }
  for (int64_t t = 0; t < items * heads; ++t) {
    if (cost[static_cast<size_t>(t / heads)] == 0) continue;
    EXPECT_EQ(whole[static_cast<size_t>(t)] + in_pieces[static_cast<size_t>(t)], 1) << "tile " << t;
  }
  for (const int n : piece_seen) EXPECT_EQ(n, 1);
  return most;
}

TEST(TilePlan, CutTilesEndEveryCtaNearTheLevel) {
  const TileCuts on{true};
  // Full masks: 64 key blocks of 64 query tiles each at 16 heads on 132 CTAs, chunks of two
  // grids: whole tiles run 8 rounds where the mean is 7.76 (each tile costing its walk plus the
  // fixed cost f = TileCuts::tile_cost: 8 x 68 = 544 against 528); cut, within f of the mean.
  const int64_t f = TileCuts{}.tile_cost;
  const std::vector<int32_t> full(64, 64);
  const TilePlan plain = plan_tiles(full, 16, 132, 264);
  const TilePlan cut = plan_tiles(full, 16, 132, 264, {}, on);
  EXPECT_TRUE(plain.pieces.empty());
  EXPECT_EQ(check_cut_plan(plain, full, 16, 132), 8 * (64 + f));
  EXPECT_FALSE(cut.pieces.empty());
  EXPECT_LE(check_cut_plan(cut, full, 16, 132), (1024 * (64 + f) + 131) / 132 + f);
  // 64:8-style 64 heads, 32k (256 blocks of 256 query tiles): 124.1 rounds.
  const std::vector<int32_t> full32(256, 256);
  const TilePlan cut32 = plan_tiles(full32, 64, 132, 264, {}, on);
  EXPECT_LE(check_cut_plan(cut32, full32, 64, 132), (16384 * (256 + f) + 131) / 132 + f);
  // 8k causal at 16 heads (64 key blocks of 128 - 2 i query tiles): the wrap-around packs the
  // last chunk's short tiles onto few CTAs, so it pays only if the fixed costs are counted
  // (bench/NOTES.md v42: +11.5 % cycles on the H200 when they were not): the plan with cuts
  // is no slower than the one without for every fixed cost from 2 to f.
  std::vector<int32_t> causal8k;
  for (int32_t i = 0; i < 64; ++i) causal8k.push_back(128 - 2 * i);
  const TilePlan causal_plain = plan_tiles(causal8k, 16, 132, 264);
  const TilePlan causal_cut = plan_tiles(causal8k, 16, 132, 264, {}, on);
  EXPECT_FALSE(causal_cut.pieces.empty());
  for (int64_t g = 2; g <= f; ++g) {
    EXPECT_LE(check_cut_plan(causal_cut, causal8k, 16, 132, g),
              check_cut_plan(causal_plain, causal8k, 16, 132, g))
        << "fixed cost " << g;
  }
  // Causal and random lists: valid, and (the plan keeps the best, the plan without cuts among
  // them) never worse than without cuts, weighed at the fixed cost the cuts count.
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<int32_t> cost = causal_costs(1 + static_cast<int32_t>(rng() % 80));
    if (trial % 2) {
      for (int32_t& c : cost) c = static_cast<int32_t>(rng() % 40);  // zeros: items without rows
      std::sort(cost.rbegin(), cost.rend());
    }
    const int32_t heads = 1 + static_cast<int32_t>(rng() % 20);
    const int32_t grid = 1 + static_cast<int32_t>(rng() % 140);
    const int64_t chunk = 1 + static_cast<int64_t>(rng() % (3 * grid));
    const TilePlan a = plan_tiles(cost, heads, grid, chunk);
    const TilePlan b = plan_tiles(cost, heads, grid, chunk, {}, on);
    ASSERT_EQ(b.start.size(), static_cast<size_t>(grid) + 1);
    EXPECT_LE(check_cut_plan(b, cost, heads, grid), check_cut_plan(a, cost, heads, grid))
        << "trial " << trial;
  }
}

// Cut plans keep the greedy fill's rounds, so they run about as few heads at once as the plan
// without cuts (its rounds of 132 tiles, 2.06 heads, meet 3; the wrap-around's last 232 tiles
// 4), where a wrap-around of the whole last chunk (8k full at 16 heads: 496 tiles, 7.75 heads)
// would run all of its heads at once (bench/NOTES.md v53).
TEST(TilePlan, CutPlansShareFewHeads) {
  const std::vector<int32_t> full(64, 128);  // 8k full, hd 128: 64 key blocks of 128 query tiles
  const int32_t heads = 16, grid = 132;
  const TilePlan plain = plan_tiles(full, heads, grid, 2 * grid);
  const TilePlan cut = plan_tiles(full, heads, grid, 2 * grid, {}, TileCuts{true});
  ASSERT_FALSE(cut.pieces.empty());
  EXPECT_LE(heads_at_once(cta_lists(plain), full, heads), 3);
  EXPECT_LE(heads_at_once(cta_lists(cut), full, heads, cut.pieces), 4);
  // And balanced: within a fixed cost of the mean.
  const int64_t f = TileCuts{}.tile_cost;
  EXPECT_LE(check_cut_plan(cut, full, heads, grid), (1024 * (128 + f) + 131) / 132 + f);
}

// The list the kernels read with cuts (cut_work): piece p is item list_items + p, its segments
// are its tile's walk from its first query tile, and a cut names its first piece.
TEST(TilePlan, CutWorkNumbersPiecesAfterTheList) {
  const std::vector<AttnSlice> slices = {{{0, 4096}, {0, 4096}, AttnMaskType::kFull}};
  const WorkList wl = build_bwd_work(slices, 4096, 128, 64);
  const std::vector<int32_t> cost = walk_costs(wl);
  const int32_t heads = 6;
  const TilePlan plan = plan_tiles(cost, heads, 132, 264, {}, TileCuts{true});
  ASSERT_FALSE(plan.pieces.empty());
  const CutWork w = cut_work<64>(plan, wl.items, wl.segs, heads);
  ASSERT_EQ(w.items.size(), wl.items.size() + plan.pieces.size());
  ASSERT_EQ(w.cuts.size() * 2, plan.pieces.size());
  for (size_t i = 0; i < wl.items.size(); ++i) {
    EXPECT_EQ(w.items[i].seg_begin, wl.items[i].seg_begin);
    EXPECT_EQ(w.items[i].seg_end, wl.items[i].seg_end);
  }
  for (size_t c = 0; c < w.cuts.size(); ++c) {
    const BwdCut& cut = w.cuts[c];
    const TilePiece& a = plan.pieces[2 * c];
    EXPECT_EQ(cut.piece, static_cast<int32_t>(2 * c));
    EXPECT_EQ(cut.item * heads + cut.head, a.tile);
    for (int32_t k = 0; k < 2; ++k) {
      const TilePiece& pc = plan.pieces[2 * c + k];
      const FfaWorkItem& it = w.items[wl.items.size() + 2 * c + k];
      EXPECT_EQ(it.block_start, wl.items[static_cast<size_t>(cut.item)].block_start);
      EXPECT_EQ(it.cost, pc.count);
      // Full mask: one segment over every row; the piece's rows are its query tiles.
      ASSERT_EQ(it.seg_end - it.seg_begin, 1);
      const FfaSegment& g = w.segs[static_cast<size_t>(it.seg_begin)];
      EXPECT_EQ(g.q0, 64 * pc.first);
      EXPECT_EQ(g.q1, std::min<int32_t>(4096, 64 * (pc.first + pc.count)));
    }
  }
  EXPECT_TRUE(
      cut_work<64>(plan_tiles(cost, heads, 132, 264), wl.items, wl.segs, heads).items.empty());
}

// min_walk: where the tiles walk fewer query tiles on average, the plan with cuts on is the plan
// without them, tile for tile; at the threshold it cuts (2k full, 64 heads: 32 a tile).
TEST(TilePlan, ShortTilesStayWholeBelowMinWalk) {
  const std::vector<int32_t> cost(16, 32);
  const TilePlan whole = plan_tiles(cost, 64, 132, 264);
  ASSERT_TRUE(whole.pieces.empty());
  TileCuts cuts{true};
  cuts.min_walk = 33;
  const TilePlan kept = plan_tiles(cost, 64, 132, 264, {}, cuts);
  EXPECT_TRUE(kept.pieces.empty());
  EXPECT_EQ(kept.start, whole.start);
  EXPECT_EQ(kept.tiles, whole.tiles);
  cuts.min_walk = 32;
  EXPECT_FALSE(plan_tiles(cost, 64, 132, 264, {}, cuts).pieces.empty());
  // Items without work do not count: the mean is over the items that walk.
  std::vector<int32_t> gaps = cost;
  gaps.insert(gaps.end(), 16, 0);
  EXPECT_FALSE(plan_tiles(gaps, 64, 132, 264, {}, cuts).pieces.empty());
}

// The slots of the MHA stores (bwd_cut.cuh): bwd_cut_slot_floats is one past the last float of
// the last lane of the last warp of a piece.
static_assert(bwd_cut_slot_floats(128, 8) ==
              4 * (bwd_cut_block(16, 8, 0, 7) + 32 * (2 * 16 - 1) + 31 + 1));
static_assert(bwd_cut_slot_floats(256, 8) == 4 * bwd_cut_block(32, 8, 1, 0));

// The masks of tests/cuda/test_tile_plan.py whose dK / dV the kernels store (MHA, one owner per
// key row: the slots and the merge kernel) are cut on a 132-SM H200 with the default plan shape
// (ffa_cuda.cc: bwd_plan_shape) under MAGI_FFA_BWD_CUTS=1 (any walk), so the GPU test runs that
// path; cuts at the default walk (64 query tiles or more on average) cut the full one.
TEST(TilePlan, GpuTestMasksCutOnAnH200) {
  struct Case {
    const char* name;
    std::vector<AttnSlice> slices;
    int64_t s;
    int32_t heads, head_dim;
  };
  const std::vector<Case> cases = {
      {"full_mha", {{{0, 4096}, {0, 4096}, AttnMaskType::kFull}}, 4096, 6, 128},
      {"causal_mha", {{{0, 3000}, {0, 3000}, AttnMaskType::kCausal}}, 3000, 12, 64},
      {"hd256_mha", {{{0, 2048}, {0, 2048}, AttnMaskType::kCausal}}, 2048, 4, 256},
  };
  for (const Case& c : cases) {
    const WorkList wl = build_bwd_work(make_disjoint(c.slices), c.s, 128, 64);
    const std::vector<int32_t> cost = walk_costs(wl);
    const int32_t tiles = static_cast<int32_t>(wl.items.size()) * c.heads;
    const int32_t grid = TileScheduler::grid_for(tiles, 132);
    const int64_t chunk = (c.head_dim > 128 ? 1 : 2) * int64_t{grid};
    const TilePlan plan = plan_tiles(cost, c.heads, grid, chunk, {}, TileCuts{true});
    EXPECT_FALSE(plan.pieces.empty()) << c.name;
    check_cut_plan(plan, cost, c.heads, grid);
    TileCuts by_default{true};
    by_default.min_walk = kCutMinWalk;
    const bool cut = !plan_tiles(cost, c.heads, grid, chunk, {}, by_default).pieces.empty();
    EXPECT_EQ(cut, std::string(c.name) == "full_mha") << c.name;
  }
}

// busiest_cta: a plan's busiest CTA as the cut and packing choices weigh it.
TEST(TilePlan, BusiestCtaCountsWalksPiecesAndFixedCosts) {
  // 4 items of walks 4, 3, 2, 1, one head, two CTAs, no cuts: {4, 1} and {3, 2} at fixed 1 are
  // 7 and 7; counted twice the walks at fixed 2: {4, 1} = 8 + 2 + 2 + 2 = 14, {3, 2} = 14.
  const std::vector<int32_t> cost = {4, 3, 2, 1};
  const TilePlan plan = plan_tiles(cost, 1, 2, 4);
  EXPECT_EQ(busiest_cta(plan, cost, 1, 1, 1), 7);
  EXPECT_EQ(busiest_cta(plan, cost, 1, 2, 2), 14);
  // With cuts, the pieces count their query tiles.
  const std::vector<int32_t> full(16, 32);
  TileCuts cuts{true};
  const TilePlan cut = plan_tiles(full, 64, 132, 264, {}, cuts);
  ASSERT_FALSE(cut.pieces.empty());
  int64_t total = 0;
  for (size_t c = 0; c + 1 < cut.start.size(); ++c) {
    TilePlan one;
    one.start = {0, cut.start[c + 1] - cut.start[c]};
    one.tiles.assign(cut.tiles.begin() + cut.start[c], cut.tiles.begin() + cut.start[c + 1]);
    one.pieces = cut.pieces;
    total += busiest_cta(one, full, 64, 1, 0);
  }
  EXPECT_EQ(total, 16 * 64 * 32);  // every query tile of every head once
}

TEST(TilePlan, RejectsBadShapes) {
  EXPECT_THROW(plan_tiles({1, 2}, 0, 132, 1), Error);
  EXPECT_THROW(plan_tiles({1, 2}, 4, 0, 1), Error);
  EXPECT_THROW(plan_tiles({1, 2}, 4, 132, 0), Error);
}

}  // namespace
}  // namespace magi::cuda::sm90
