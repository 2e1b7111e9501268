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

#include "kernels/cuda/ffa/params.h"
#include "kernels/cuda/ffa/sm90/bwd_cut.h"
#include "kernels/cuda/ffa/sm90/segment_tiles.h"
#include "magi/check.h"

namespace magi::cuda::sm90 {

/// The order of the tiles' keys: query heads in groups of `head_group` (1: head-major; all
/// heads: item-major), in a group item (in list order) then query head.
struct TileOrder {
  int32_t head_group = 1;  // < 1 or > num_heads: all heads

  bool operator==(const TileOrder&) const = default;
};

/// A piece of a cut tile: query tiles [first, first + count) of the tile's walk. It runs as a
/// work item of its own, appended to the list (items + its index: prepared_work.cc clips the
/// tile's segments to its rows), so no role of the kernel walks differently.
struct TilePiece {
  int32_t tile;  // the cut tile: item * num_heads + head
  int32_t first, count;
};

struct TilePlan {
  std::vector<int32_t> start;  // [grid + 1]: CTA c runs tiles[start[c], start[c + 1])
  // Tile numbers, item-major: item * num_heads + head; piece p of `pieces` is numbered
  // (items + p) * num_heads + its tile's head.
  std::vector<int32_t> tiles;
  std::vector<TilePiece> pieces;  // a cut tile's two pieces side by side, in walk order
};

/// The costs of tiles that each walk `walks` query heads over the items of `item_cost`
/// (BwdParams::pack_heads).
inline std::vector<int32_t> walked_costs(const std::vector<int32_t>& item_cost, int32_t walks) {
  std::vector<int32_t> cost = item_cost;
  for (int32_t& c : cost) c *= walks;
  return cost;
}

/// The busiest CTA's work in `plan`, in query tiles: a tile costs its item's
/// walk times `walks` plus `fixed`, a piece its count plus `fixed`.
inline int64_t busiest_cta(const TilePlan& plan, const std::vector<int32_t>& item_cost,
                           int32_t num_heads, int32_t walks, int32_t fixed) {
  const int64_t items = static_cast<int64_t>(item_cost.size());
  int64_t most = 0;
  for (size_t c = 0; c + 1 < plan.start.size(); ++c) {
    int64_t load = 0;
    for (int32_t at = plan.start[c]; at < plan.start[c + 1]; ++at) {
      const int64_t item = plan.tiles[static_cast<size_t>(at)] / num_heads;
      load += fixed + (item < items ? int64_t{walks} * item_cost[static_cast<size_t>(item)]
                                    : plan.pieces[static_cast<size_t>(item - items)].count);
    }
    most = std::max(most, load);
  }
  return most;
}

/// Cut tiles (plan_tiles; bench/NOTES.md v38, on by default for long tiles since v44): the last
/// chunk fills the CTAs one after another up to the level every CTA can reach (all work / grid);
/// the tile that would pass it is cut there, at a query tile, and its rest opens the next CTA
/// (McNaughton's wrap-around, at most two pieces a tile), so the CTAs end within about a query
/// tile of each other instead of a whole tile (full masks: 1024 tiles on 132 CTAs run 8 rounds
/// for 7.76).
///
/// Cutting, a tile (or piece) costs its walk plus `tile_cost` query tiles: its K / V load, its
/// dK / dV epilogue and its pipeline's start, which the hd 128 kernel (one K / V stage) does not
/// overlap. Six shapes were measured on the H200 with plans that counted 1 (bench/NOTES.md v41:
/// busiest SM's cycles with and without cuts); replayed on the CPU, a fixed cost of 2 to 3.2
/// reproduces each (v42), among them the one loss, 8k causal hd 128 at 16 heads (+11.5 %
/// measured, +10.2 % modelled at 3), where the wrap-around packed up to 41 short tiles onto one
/// CTA. The default, 4, leaves a margin: planned with it, no harness shape is modelled slower
/// than without cuts for any fixed cost from 2 to 4. Measured on the H200 with it (v44), the
/// cuts gained 0.9-3.2 % SM cycles where tiles walk 64 query tiles or more on average, and one
/// shape of short tiles, 2k full 64:8 (32 a tile; modelled 1.4 % faster), lost 8 % of its time
/// (27 % of its busiest SM's cycles on an H100, v45), which no fixed cost explains: `min_walk`
/// keeps such plans whole (kCutMinWalk, the default plan's: ffa_cuda.cc). In back-to-back
/// calls on an H100 the MHA tiles (16-bit dK / dV, the slots and the merge) ran 3-11 % slower
/// cut at 8k (v53) while the wrap-around took the whole last chunk; filled as below (the greedy
/// fill's rounds kept), cut MHA tiles ran 5-8 % faster than whole ones at 8k causal, at their
/// rate within the +-4 % spread elsewhere, and GQA tiles 0-4 % faster than the old cuts (v54).
struct TileCuts {
  bool on = false;
  int32_t min_piece = 2;  // query tiles: no piece is shorter (>= 1)
  int32_t tile_cost = 4;  // query tiles a tile or piece costs besides its walk (>= 1)
  int32_t min_walk = 0;   // query tiles: below this mean walk of the tiles, no cuts
  bool operator==(const TileCuts&) const = default;
};

/// TileCuts::min_walk of the default backward plan (bench/NOTES.md v44, v45).
inline constexpr int32_t kCutMinWalk = 64;

/// The plan of `num_heads` query heads over items of cost `item_cost` (the query tiles an item
/// walks; 0: an item without segments, which no role runs) on `grid` CTAs, in chunks of
/// `chunk_tiles` tiles. A tile costs its item's walk plus one tile for its K / V load and
/// dK / dV epilogue. With `cuts.on`, where the tiles walk at least `cuts.min_walk` query tiles
/// on average, the last chunk's tiles may be cut in two (TileCuts), and every tile costs its walk
/// plus cuts.tile_cost: the plans with cuts, and those without (the default plan among them),
/// are compared under that cost, and the best kept.
inline TilePlan plan_tiles(const std::vector<int32_t>& item_cost, int32_t num_heads, int32_t grid,
                           int64_t chunk_tiles, TileOrder order = {}, TileCuts cuts = {}) {
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
  MAGI_CHECK(cuts.min_piece >= 1 && cuts.tile_cost >= 1,
             "FFA CUDA: bad cuts of a tile plan (min_piece ", cuts.min_piece, ", tile_cost ",
             cuts.tile_cost, ")");
  int64_t walks = 0, walked = 0;  // the items' walks, and how many items walk
  for (const int32_t cost : item_cost) {
    walks += cost;
    walked += cost > 0;
  }
  cuts.on = cuts.on && walks >= int64_t{cuts.min_walk} * walked;
  const int32_t fixed = cuts.on ? cuts.tile_cost : 1;  // a tile's cost besides its walk
  const int32_t group =
      order.head_group < 1 || order.head_group > num_heads ? num_heads : order.head_group;
  for (int32_t h0 = 0; h0 < num_heads; h0 += group) {
    for (int64_t i = 0; i < items; ++i) {
      const int32_t cost = item_cost[static_cast<size_t>(i)];
      if (cost == 0) continue;
      for (int32_t h = h0; h < std::min(h0 + group, num_heads); ++h) {
        keyed.push_back({cost + fixed, static_cast<int32_t>(keyed.size()),
                         static_cast<int32_t>(i * num_heads + h)});
      }
    }
  }
  // The plan at `level` (cut: the last chunk's tiles cut where they would pass it) and its most
  // loaded CTA's work.
  const auto assign = [&](int64_t level, bool cut) {
    TilePlan plan;
    std::vector<std::vector<Tile>> per_cta(static_cast<size_t>(grid));
    using Load = std::pair<int64_t, int32_t>;  // (work so far, CTA)
    std::priority_queue<Load, std::vector<Load>, std::greater<>> least;
    for (int32_t c = 0; c < grid; ++c) least.push({0, c});
    const size_t chunk = static_cast<size_t>(chunk_tiles);
    for (size_t begin = 0, end = 0; begin < keyed.size(); begin = end) {
      end = std::min(begin + chunk, keyed.size());
      // Cutting, a short last chunk joins the one before (a few tiles cannot be spread over
      // every CTA in two pieces each).
      if (cut && end + chunk > keyed.size()) end = keyed.size();
      const auto first = keyed.begin() + static_cast<std::ptrdiff_t>(begin);
      const auto last = keyed.begin() + static_cast<std::ptrdiff_t>(end);
      std::sort(first, last, [](const Tile& a, const Tile& b) {
        return a.cost != b.cost ? a.cost > b.cost : a.key < b.key;
      });
      const auto greedy = [&](auto from, auto to) {  // each tile to the least loaded CTA
        for (auto t = from; t != to; ++t) {
          const auto [load, c] = least.top();
          least.pop();
          per_cta[static_cast<size_t>(c)].push_back(*t);
          least.push({load + t->cost, c});
        }
      };
      if (!cut || last != keyed.end()) {
        greedy(first, last);
        continue;
      }
      // The last chunk's tiles go by the greedy fill, as the other chunks' (round after round
      // over consecutive keys), while the least loaded CTA keeps room for another tile as long
      // as the one it takes (the rest are shorter), so that each CTA the wrap-around below
      // reaches can take a piece of any tile left. The wrap-around hands each CTA consecutive
      // keys: given the whole last chunk (at 8k 16:16 hd 128 merged with the one before: 496 of
      // 1024 tiles), the tiles running at one time spanned its every head (8, whose Q, dO and
      // fp32 dQ take 64 MB against the 50 MB L2, where the rounds span 3; bench/NOTES.md v53).
      auto wrapped = first;
      while (wrapped != last && least.top().first + 2 * int64_t{wrapped->cost} <= level) {
        greedy(wrapped, wrapped + 1);
        ++wrapped;
      }
      // The last chunk, McNaughton's wrap-around: the CTAs from the least loaded up, each
      // filled to the level; the tile that passes it is cut at a query tile (a piece costs its
      // walk plus `fixed`, as a tile does) and its second piece opens the next CTA. A CTA with
      // less room than two pieces' minimum is passed over; what is left when every CTA is
      // full goes whole to the least loaded.
      std::vector<Load> order;
      while (!least.empty()) {
        order.push_back(least.top());
        least.pop();
      }
      size_t at = 0;  // the CTA being filled
      const auto place = [&](const Tile& t) {
        const int64_t walk = t.cost - fixed;
        for (; at < order.size(); ++at) {
          Load& l = order[at];
          if (l.first + t.cost <= level) {
            per_cta[static_cast<size_t>(l.second)].push_back(t);
            l.first += t.cost;
            return;
          }
          const int64_t room = std::min(level - l.first - fixed, walk - cuts.min_piece);
          if (room < cuts.min_piece || at + 1 == order.size()) continue;  // full for this tile
          const int32_t piece = static_cast<int32_t>(items + plan.pieces.size());
          const int32_t head = t.number % num_heads;
          plan.pieces.push_back({t.number, 0, static_cast<int32_t>(room)});
          plan.pieces.push_back(
              {t.number, static_cast<int32_t>(room), static_cast<int32_t>(walk - room)});
          per_cta[static_cast<size_t>(l.second)].push_back(
              {static_cast<int32_t>(room + fixed), t.key, piece * num_heads + head});
          l.first += room + fixed;
          Load& next = order[++at];
          per_cta[static_cast<size_t>(next.second)].push_back(
              {static_cast<int32_t>(walk - room + fixed), t.key, (piece + 1) * num_heads + head});
          next.first += walk - room + fixed;
          return;
        }
        // Every CTA full: the least loaded takes it whole.
        auto lowest = std::min_element(order.begin(), order.end());
        per_cta[static_cast<size_t>(lowest->second)].push_back(t);
        lowest->first += t.cost;
      };
      for (auto t = wrapped; t != last; ++t) place(*t);
      for (const Load& l : order) least.push(l);
    }
    int64_t most = 0;
    while (!least.empty()) {
      most = std::max(most, least.top().first);
      least.pop();
    }
    plan.start.reserve(static_cast<size_t>(grid) + 1);
    plan.start.push_back(0);
    plan.tiles.reserve(keyed.size() + plan.pieces.size() / 2);
    for (std::vector<Tile>& own : per_cta) {
      std::sort(own.begin(), own.end(), [](const Tile& a, const Tile& b) { return a.key < b.key; });
      for (const Tile& t : own) plan.tiles.push_back(t.number);
      plan.start.push_back(static_cast<int32_t>(plan.tiles.size()));
    }
    return std::pair{std::move(plan), most};
  };
  auto [plan, most] = assign(0, false);
  if (cuts.on && fixed != 1) {
    // The plan without cuts (built counting 1 a tile) is a candidate too, weighed at `fixed`:
    // the greedy fill at one cost is not always better at another, and with cuts on the plan
    // must never be worse than without.
    TilePlan whole = plan_tiles(item_cost, num_heads, grid, chunk_tiles, order);
    const int64_t whole_most = busiest_cta(whole, item_cost, num_heads, 1, fixed);
    if (whole_most <= most) {
      plan = std::move(whole);
      most = whole_most;
    }
  }
  // At most one cut per CTA: pieces number below items + 2 grid (tile numbers stay int32; a
  // larger problem keeps whole tiles).
  if (cuts.on && grid > 1 && (items + 2 * int64_t{grid}) * num_heads < (int64_t{1} << 31)) {
    // All work spread evenly, plus a cut's extra piece; the cuts' overheads can carry the last
    // tiles past it (no CTA has room left), so a few higher levels are tried too, and the best
    // plan kept (whole tiles included).
    int64_t total = 0;
    for (const Tile& t : keyed) total += t.cost;
    const int64_t level = (total + grid - 1) / grid + fixed;
    for (const int64_t extra : {0, 1, 2, 4, 8, 16}) {
      auto [cut, cut_most] = assign(level + extra, true);
      if (cut_most < most) {
        plan = std::move(cut);
        most = cut_most;
      }
    }
  }
  return plan;
}

/// The work item of a piece of `item` (its segments in `all`): the item with its segments
/// clipped to query tiles [first, first + count) of its walk (RowTiles of kBlockM rows, not
/// aligned), appended to `segs`. Segments are bands with absolute diagonals, so clipping their
/// rows keeps the mask.
template <int kBlockM>
FfaWorkItem piece_item(const FfaWorkItem& item, const std::vector<FfaSegment>& all, int32_t first,
                       int32_t count, std::vector<FfaSegment>& segs) {
  FfaWorkItem piece = item;
  piece.seg_begin = static_cast<int32_t>(segs.size());
  int32_t t0 = 0;  // the walk's first tile of segment s
  for (int32_t s = item.seg_begin; s < item.seg_end; ++s) {
    const FfaSegment& g = all[static_cast<size_t>(s)];
    const int32_t n = RowTiles<kBlockM>::tiles_of(g.q0, g.q1, /*aligned=*/false);
    const int32_t a = std::max(first, t0), b = std::min(first + count, t0 + n);
    if (a < b) {
      FfaSegment c = g;
      c.q0 = g.q0 + kBlockM * (a - t0);
      c.q1 = std::min(g.q1, g.q0 + kBlockM * (b - t0));
      segs.push_back(c);
    }
    t0 += n;
  }
  piece.seg_end = static_cast<int32_t>(segs.size());
  piece.cost = count;
  piece.turn_begin = 0;
  return piece;
}

/// What the kernels read in place of a backward list when its plan has cuts: the list's items
/// and then piece p of `plan` as item list_items + p (piece_item; its segments appended to the
/// list's), and the cuts, one per pair of pieces (bwd_cut.h: BwdCut).
struct CutWork {
  std::vector<FfaWorkItem> items;
  std::vector<FfaSegment> segs;
  std::vector<BwdCut> cuts;
};

/// The CutWork of `plan` over a list of `items` and `segs` for `num_heads` query heads (empty
/// when the plan has no pieces).
template <int kBlockM>
CutWork cut_work(const TilePlan& plan, const std::vector<FfaWorkItem>& items,
                 const std::vector<FfaSegment>& segs, int32_t num_heads) {
  CutWork w;
  if (plan.pieces.empty()) return w;
  w.items = items;
  w.segs = segs;
  for (size_t p = 0; p < plan.pieces.size(); ++p) {
    const TilePiece& pc = plan.pieces[p];
    const int32_t item = pc.tile / num_heads;
    w.items.push_back(
        piece_item<kBlockM>(items[static_cast<size_t>(item)], segs, pc.first, pc.count, w.segs));
    if (p % 2 == 0) w.cuts.push_back({item, pc.tile % num_heads, static_cast<int32_t>(p)});
  }
  return w;
}

}  // namespace magi::cuda::sm90
