// A tile plan for the persistent Hopper forward whose last tiles are split along their keys, so
// the grid's last round does not leave CTAs idle (wave quantisation). Pure host code, unit-tested
// on the CPU (tests/kernels/cuda/sm90/fwd_plan_test.cc); fwd_rows.h chooses between it and the
// scheduler's rounds (also a plan here), prepared_work.cc keeps the choice per mask and heads.
//
// Without a plan the scheduler hands out whole tiles in rounds of `grid` (tile_scheduler.h): 1024
// equal tiles on 132 CTAs are 7.76 rounds, so every CTA spends the time of 8 tiles and the last
// round is a quarter idle (3 % of the whole); 176 tiles (hd 64, 2k, 16 heads, 192-row items) are
// 1.33 rounds run in 2. The plan gives tiles in the scheduler's order (item-major, heads
// innermost: longest first) to the CTA with the least work so far; a tile that would carry that
// CTA past the level every CTA can reach (all work / grid) is cut at the level, and the rest
// goes on to the next least-loaded CTA. Each CTA so ends within a key tile or two of the level;
// the cuts happen where CTAs reach it, that is in the last tiles, at most about one per CTA.
//
// The pieces of a cut tile run on different CTAs; each writes its partial O and softmax
// statistics to a workspace slot, and a second kernel merges them in piece order (fwd_split.cuh).

#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <queue>
#include <span>
#include <utility>
#include <vector>

#include "kernels/cuda/ffa/params.h"
#include "kernels/cuda/ffa/sm90/fwd_unit.h"
#include "kernels/cuda/ffa/sm90/tile_scheduler.h"
#include "magi/check.h"

namespace magi::cuda::sm90 {

/// Times of the model, in units of one key of a 128-row tile (fwd_rows.h: fwd_cost): a key tile
/// of the list's kernel, the fixed cost of every unit (its epilogue, the Q load and first
/// product that the previous unit does not hide), once per CTA the pipeline's start, and what a
/// piece adds (its partial's store and the merge's load).
struct FwdCost {
  double key_tile = 176.0;
  double fixed = 200.0;
  double first = 720.0;
  double piece = 160.0;
  int32_t min_piece = 2;  // key tiles: no piece is shorter
};

/// Pieces of one tile: at most this many.
inline constexpr int32_t kFwdMaxPieces = 15;

struct FwdPlan {
  std::vector<int32_t> start;  // [grid + 1]: CTA c runs units[start[c], start[c + 1])
  std::vector<FwdUnit> units;
  std::vector<FwdCut> cuts;  // the cut tiles
  int32_t pieces = 0;        // pieces of cut tiles (the workspace's slots)
  double makespan = 0.0;     // the busiest CTA's time under the model
};

/// The scheduler's rounds (tile_scheduler.h: whole tiles, `grid` at a time, in snake order) as a
/// plan of `item_tiles` (key tiles per item) for `heads` query heads on `grid` CTAs, with the
/// busiest CTA's time under `cost`: what the balanced plan below is compared with.
inline FwdPlan fwd_rounds_plan(std::span<const int32_t> item_tiles, int32_t heads, int32_t grid,
                               const FwdCost& cost) {
  TileScheduler s{};
  s.num_tiles = static_cast<int32_t>(static_cast<int64_t>(item_tiles.size()) * heads);
  s.num_heads = heads;
  s.grid = grid;
  FwdPlan plan;
  plan.start.push_back(0);
  for (int32_t c = 0; c < grid; ++c) {
    double t = cost.first;
    for (int32_t r = 0, tile; (tile = s.tile(c, r)) >= 0; ++r) {
      const int32_t n = item_tiles[static_cast<size_t>(s.item_of(tile))];
      plan.units.push_back({tile, 0, n, -1});
      t += n * cost.key_tile + cost.fixed;
    }
    plan.start.push_back(static_cast<int32_t>(plan.units.size()));
    plan.makespan = std::max(plan.makespan, t);
  }
  return plan;
}

namespace detail {

/// The plan that cuts tiles at `level` (the time every CTA is to reach).
inline FwdPlan plan_fwd_at(std::span<const int32_t> item_tiles, int32_t heads, int32_t grid,
                           const FwdCost& cost, double level) {
  const int64_t items = static_cast<int64_t>(item_tiles.size());
  std::vector<std::vector<FwdUnit>> per_cta(static_cast<size_t>(grid));
  using Load = std::pair<double, int32_t>;  // (time so far, CTA)
  std::priority_queue<Load, std::vector<Load>, std::greater<>> least;
  for (int32_t c = 0; c < grid; ++c) least.push({cost.first, c});
  FwdPlan plan;
  struct Piece {
    int32_t cta, first, count;
  };
  std::vector<Piece> cut;
  for (int64_t i = 0; i < items; ++i) {
    const int32_t n = item_tiles[static_cast<size_t>(i)];
    for (int32_t h = 0; h < heads; ++h) {
      const int32_t tile = static_cast<int32_t>(i * heads + h);
      cut.clear();
      int32_t first = 0;
      while (true) {
        const auto [load, c] = least.top();
        least.pop();
        const int32_t rest = n - first;
        const double whole = rest * cost.key_tile + cost.fixed + (first > 0 ? cost.piece : 0.0);
        // Key tiles that fit below the level on this CTA as a piece, leaving a piece behind.
        const int32_t room = static_cast<int32_t>(
            std::min<double>(rest - cost.min_piece,
                             std::floor((level - load - cost.fixed - cost.piece) / cost.key_tile)));
        const bool fits = load + whole <= level;
        if (fits || room < cost.min_piece ||
            static_cast<int32_t>(cut.size()) + 1 >= kFwdMaxPieces) {
          cut.push_back({c, first, rest});
          least.push({load + whole, c});
          break;
        }
        cut.push_back({c, first, room});
        least.push({load + room * cost.key_tile + cost.fixed + cost.piece, c});
        first += room;
      }
      const int32_t pieces = static_cast<int32_t>(cut.size());
      for (int32_t p = 0; p < pieces; ++p) {
        const Piece& pc = cut[static_cast<size_t>(p)];
        per_cta[static_cast<size_t>(pc.cta)].push_back(
            {tile, pc.first, pc.count, pieces > 1 ? plan.pieces + p : -1});
      }
      if (pieces > 1) {
        plan.cuts.push_back({tile, plan.pieces, pieces});
        plan.pieces += pieces;
      }
    }
  }
  while (!least.empty()) {
    plan.makespan = std::max(plan.makespan, least.top().first);
    least.pop();
  }
  plan.start.reserve(static_cast<size_t>(grid) + 1);
  plan.start.push_back(0);
  for (const std::vector<FwdUnit>& own : per_cta) {
    plan.units.insert(plan.units.end(), own.begin(), own.end());
    plan.start.push_back(static_cast<int32_t>(plan.units.size()));
  }
  MAGI_CHECK(plan.pieces < (1 << 23), "FFA CUDA: ", plan.pieces, " forward pieces");
  return plan;
}

}  // namespace detail

/// The plan of `heads` query heads over items of `item_tiles` key tiles (in list order: longest
/// first) on `grid` CTAs. The level starts at all work spread evenly plus one piece's overhead
/// per CTA; the pieces' overheads can carry the last tiles past it (no CTA has room left), so
/// levels 1, 2, 4, ... key tiles higher are tried too, and the best plan kept.
inline FwdPlan plan_fwd(std::span<const int32_t> item_tiles, int32_t heads, int32_t grid,
                        const FwdCost& cost) {
  const int64_t items = static_cast<int64_t>(item_tiles.size());
  MAGI_CHECK(heads >= 1 && grid >= 1 && items * heads < (int64_t{1} << 31) && cost.min_piece >= 1 &&
                 cost.key_tile > 0.0,
             "FFA CUDA: bad forward plan (", items, " items, ", heads, " heads, grid ", grid, ")");
  double all = 0.0;
  for (const int32_t n : item_tiles) all += (n * cost.key_tile + cost.fixed) * heads;
  const double level = all / grid + cost.first + cost.fixed + cost.piece;
  FwdPlan best = detail::plan_fwd_at(item_tiles, heads, grid, cost, level);
  for (int i = 0; i < 6 && best.makespan > level + cost.key_tile; ++i) {
    FwdPlan next =
        detail::plan_fwd_at(item_tiles, heads, grid, cost, level + (cost.key_tile * (1 << i)));
    if (next.makespan < best.makespan) best = std::move(next);
  }
  return best;
}

/// A plan in the kernel's form (work_stream.h): each CTA's units followed by one with tile -1, and
/// where each CTA's begin ([grid]).
struct FwdKernelPlan {
  std::vector<FwdUnit> units;
  std::vector<int32_t> start;
};

inline FwdKernelPlan kernel_form(const FwdPlan& plan) {
  FwdKernelPlan k;
  const size_t grid = plan.start.empty() ? 0 : plan.start.size() - 1;
  k.units.reserve(plan.units.size() + grid);
  for (size_t c = 0; c < grid; ++c) {
    k.start.push_back(static_cast<int32_t>(k.units.size()));
    k.units.insert(k.units.end(), plan.units.begin() + plan.start[c],
                   plan.units.begin() + plan.start[c + 1]);
    k.units.push_back({-1, 0, 0, -1});
  }
  return k;
}

/// The key classes of a forward list's items: items whose segments cover the same key ranges
/// in the same order (so their producers load the same K / V tiles, segment_tiles.h) share a
/// class; classes are numbered in list order from 0.
inline std::vector<int32_t> fwd_key_classes(std::span<const FfaWorkItem> items,
                                            std::span<const FfaSegment> segs) {
  std::map<std::vector<std::pair<int32_t, int32_t>>, int32_t> ids;
  std::vector<int32_t> cls;
  cls.reserve(items.size());
  std::vector<std::pair<int32_t, int32_t>> keys;
  for (const FfaWorkItem& it : items) {
    keys.clear();
    for (int32_t g = it.seg_begin; g < it.seg_end; ++g) {
      keys.emplace_back(segs[static_cast<size_t>(g)].k0, segs[static_cast<size_t>(g)].k1);
    }
    cls.push_back(ids.try_emplace(keys, static_cast<int32_t>(ids.size())).first->second);
  }
  return cls;
}

/// Whether CTAs 2c and 2c + 1 of `k` walk the same key tiles of the same kv head, unit by unit
/// (FwdParams::kv_pairs: a cluster of the two can then load each K / V tile once for both).
/// Tiles in the scheduler's item-major numbering (tile_scheduler.h, group 0): items of one key
/// class (`key_class`, fwd_key_classes; empty: each item its own) walk the same key tiles, and
/// query heads h and h' share K / V when h / heads_per_kv equals h' / heads_per_kv. Pieces of
/// cut tiles pair like whole tiles (their own first and count).
inline bool fwd_plan_pairs(const FwdKernelPlan& k, int32_t num_heads, int32_t heads_per_kv,
                           std::span<const int32_t> key_class = {}) {
  const size_t grid = k.start.size();
  if (grid < 2 || grid % 2 != 0 || num_heads < 1 || heads_per_kv < 1) return false;
  TileScheduler s{};  // the numbering only (item_of, head_of)
  s.num_heads = num_heads;
  const auto class_of = [&](int32_t tile) {
    const int32_t item = s.item_of(tile);
    return key_class.empty() ? item : key_class[static_cast<size_t>(item)];
  };
  for (size_t c = 0; c < grid; c += 2) {
    for (size_t a = static_cast<size_t>(k.start[c]), b = static_cast<size_t>(k.start[c + 1]);;
         ++a, ++b) {
      const FwdUnit& x = k.units[a];
      const FwdUnit& y = k.units[b];
      if (x.tile < 0 || y.tile < 0) {
        if (x.tile >= 0 || y.tile >= 0) return false;
        break;
      }
      if (class_of(x.tile) != class_of(y.tile) ||
          s.head_of(x.tile) / heads_per_kv != s.head_of(y.tile) / heads_per_kv ||
          x.first != y.first || x.count != y.count) {
        return false;
      }
    }
  }
  return true;
}

/// CTA pairs where query heads cannot pair (an odd number per kv head: MHA): rounds of twins,
/// two items of one key class (`key_class`, fwd_key_classes) with the same query head on CTAs
/// 2c and 2c + 1 side by side, so the pair shares each K / V tile. A class's items are twinned in
/// list order, twins ordered by their first item (longest first, as the list), numbered with
/// heads innermost and handed to `num_sms` / 2 clusters in the scheduler's rounds (snake order),
/// whole tiles only; makespan under `cost` as fwd_rounds_plan's. No plan (start empty) when a
/// class has an odd count (an item would walk alone) or fewer than two multiprocessors.
inline FwdPlan fwd_twin_rounds_plan(std::span<const int32_t> item_tiles,
                                    std::span<const int32_t> key_class, int32_t heads, int num_sms,
                                    const FwdCost& cost) {
  FwdPlan plan;
  MAGI_CHECK(key_class.size() == item_tiles.size() && heads >= 1, "FFA CUDA: bad twin plan (",
             item_tiles.size(), " items, ", key_class.size(), " classes, ", heads, " heads)");
  std::map<int32_t, int32_t> waiting;              // class -> its item without a twin yet
  std::vector<std::pair<int32_t, int32_t>> twins;  // (first item, second item)
  for (int32_t i = 0; i < static_cast<int32_t>(item_tiles.size()); ++i) {
    const auto [at, alone] = waiting.try_emplace(key_class[static_cast<size_t>(i)], i);
    if (alone) continue;
    twins.emplace_back(at->second, i);
    waiting.erase(at);
  }
  if (!waiting.empty() || twins.empty() || num_sms < 2) return plan;
  std::sort(twins.begin(), twins.end());
  const int64_t units = static_cast<int64_t>(twins.size()) * heads;
  MAGI_CHECK(units < (int64_t{1} << 31), "FFA CUDA: ", units, " forward twin units");
  TileScheduler s{};
  s.num_tiles = static_cast<int32_t>(units);
  s.num_heads = heads;
  s.grid = TileScheduler::grid_for(s.num_tiles, num_sms / 2);
  plan.start.push_back(0);
  for (int32_t c = 0; c < s.grid; ++c) {
    double t = cost.first;
    for (int32_t side = 0; side < 2; ++side) {
      for (int32_t r = 0, u; (u = s.tile(c, r)) >= 0; ++r) {
        const auto [a, b] = twins[static_cast<size_t>(s.item_of(u))];
        const int32_t item = side == 0 ? a : b;
        const int32_t n = item_tiles[static_cast<size_t>(item)];
        plan.units.push_back({item * heads + s.head_of(u), 0, n, -1});
        if (side == 0) t += n * cost.key_tile + cost.fixed;
      }
      plan.start.push_back(static_cast<int32_t>(plan.units.size()));
    }
    plan.makespan = std::max(plan.makespan, t);
  }
  return plan;
}

}  // namespace magi::cuda::sm90
