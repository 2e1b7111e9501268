// A tile plan for the persistent Hopper backward: every (work item, query head) tile given to a
// CTA on the host, ahead of the launch, in place of the scheduler's round-robin rounds
// (tile_scheduler.h); ffa_cuda.cc uses it by default (MAGI_FFA_BWD_TILE_PLAN=<k>, bench/NOTES.md
// v28). Rounds of a causal list hold blocks of every length, so at 8k either the rounds span
// several heads (their query rows then miss L2) or the round-robin leaves CTAs idle; the plan
// keeps both the balance and the locality.
//
// The tiles are taken in key order (TileOrder, below), in chunks of `chunk_tiles` tiles; in a
// chunk, longest first, each goes to the CTA with the least work so far (ties: the lowest CTA,
// then the lowest key); every CTA then runs its tiles in key order. Hence:
// - balance: a greedy list schedule: no CTA ends more than one tile after another;
// - locality (the default order: query head, then item in list order): the tiles running at one
//   time lie within a few chunks in key order, that is a few heads' rows (replayed with the
//   costs as times, causal 8k, chunks of two grids: about 5 heads at once against 15 of 16 for
//   the item-major rounds and 6 against 35 of 64 for the kv-head rounds, at +1-3 % makespan;
//   one grid: about 4 at +2-5 %; tests/kernels/cuda/sm90/tile_plan_test.cc);
// - the deterministic mode's turns (a query tile's adds in list order, work_list.h:
//   add_row_turns; a kv head's dK / dV in query-head order) follow its key order; the CTA
//   holding the least unfinished tile is at it and waits for no turn of a later tile, so the
//   plan cannot deadlock (all CTAs are resident: grid <= SMs). A query tile's adds run in
//   series, so the tiles of one head must reach each row in turn order, which add_row_turns'
//   order gives when each item starts no later than the items after it: chunks of one tile (a
//   plain list schedule in key order) keep the starts in key order. Longest-first chunks break
//   it (the longest item of a chunk takes the CTA free first, so all reach a row at once and
//   queue: 0.25x of the default's speed on 8k causal, head-major, chunks of two grids, v29);
//   one-tile chunks keep the head-major order's locality at the cost of the tail's balance
//   (replayed: 0.87x at 8k causal with 16 heads, 0.97-1.00x at 32k or with 64 heads).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <queue>
#include <utility>
#include <vector>

#include "magi/check.h"

namespace magi::cuda::sm90 {

/// The order of the tiles' keys: query heads in groups of `head_group` (1: head-major; all
/// heads: item-major), in a group item (in list order) then query head.
struct TileOrder {
  int32_t head_group = 1;  // < 1 or > num_heads: all heads

  bool operator==(const TileOrder&) const = default;
};

struct TilePlan {
  std::vector<int32_t> start;  // [grid + 1]: CTA c runs tiles[start[c], start[c + 1])
  std::vector<int32_t> tiles;  // tile numbers, item-major: item * num_heads + head
};

/// The plan of `num_heads` query heads over items of cost `item_cost` (the query tiles an item
/// walks; 0: an item without segments, which no role runs) on `grid` CTAs, in chunks of
/// `chunk_tiles` tiles. A tile costs its item's walk plus one tile for its K / V load and
/// dK / dV epilogue.
inline TilePlan plan_tiles(const std::vector<int32_t>& item_cost, int32_t num_heads, int32_t grid,
                           int64_t chunk_tiles, TileOrder order = {}) {
  const int64_t items = static_cast<int64_t>(item_cost.size());
  MAGI_CHECK(
      num_heads >= 1 && grid >= 1 && chunk_tiles >= 1 && items * num_heads < (int64_t{1} << 31),
      "FFA CUDA: bad tile plan (", items, " items, ", num_heads, " heads, grid ", grid,
      ", chunks of ", chunk_tiles, " tiles)");
  struct Tile {
    int32_t cost;    // item walk + 1
    int32_t key;     // the tile's rank in `order`
    int32_t number;  // item * num_heads + head
  };
  std::vector<Tile> keyed;  // in key order
  keyed.reserve(static_cast<size_t>(items * num_heads));
  const int32_t group =
      order.head_group < 1 || order.head_group > num_heads ? num_heads : order.head_group;
  for (int32_t h0 = 0; h0 < num_heads; h0 += group) {
    for (int64_t i = 0; i < items; ++i) {
      const int32_t cost = item_cost[static_cast<size_t>(i)];
      if (cost == 0) continue;
      for (int32_t h = h0; h < std::min(h0 + group, num_heads); ++h) {
        keyed.push_back({cost + 1, static_cast<int32_t>(keyed.size()),
                         static_cast<int32_t>(i * num_heads + h)});
      }
    }
  }
  std::vector<std::vector<Tile>> per_cta(static_cast<size_t>(grid));
  using Load = std::pair<int64_t, int32_t>;  // (work so far, CTA)
  std::priority_queue<Load, std::vector<Load>, std::greater<>> least;
  for (int32_t c = 0; c < grid; ++c) least.push({0, c});
  const size_t chunk = static_cast<size_t>(chunk_tiles);
  for (size_t begin = 0; begin < keyed.size(); begin += chunk) {
    const auto first = keyed.begin() + static_cast<std::ptrdiff_t>(begin);
    const auto last =
        keyed.begin() + static_cast<std::ptrdiff_t>(std::min(begin + chunk, keyed.size()));
    std::sort(first, last, [](const Tile& a, const Tile& b) {
      return a.cost != b.cost ? a.cost > b.cost : a.key < b.key;
    });
    for (auto t = first; t != last; ++t) {
      const auto [load, c] = least.top();
      least.pop();
      per_cta[static_cast<size_t>(c)].push_back(*t);
      least.push({load + t->cost, c});
    }
  }
  TilePlan plan;
  plan.start.reserve(static_cast<size_t>(grid) + 1);
  plan.start.push_back(0);
  plan.tiles.reserve(keyed.size());
  for (std::vector<Tile>& own : per_cta) {
    std::sort(own.begin(), own.end(), [](const Tile& a, const Tile& b) { return a.key < b.key; });
    for (const Tile& t : own) plan.tiles.push_back(t.number);
    plan.start.push_back(static_cast<int32_t>(plan.tiles.size()));
  }
  return plan;
}

}  // namespace magi::cuda::sm90
