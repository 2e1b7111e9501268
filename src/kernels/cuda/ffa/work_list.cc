#include "kernels/cuda/ffa/work_list.h"

#include <algorithm>
#include <unordered_map>

#include "magi/check.h"

namespace magi::cuda {
namespace {

// Orders items by decreasing cost (stable, so equal costs keep block order) and rebuilds the
// segment array in the new item order.
WorkList finish(std::vector<std::vector<FfaSegment>>& per_block, std::vector<int64_t>& cost,
                const std::vector<int32_t>& starts, const std::vector<int32_t>& ends,
                bool keep_empty) {
  std::vector<int32_t> order;
  for (size_t b = 0; b < per_block.size(); ++b) {
    if (keep_empty || !per_block[b].empty()) order.push_back(static_cast<int32_t>(b));
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return cost[a] > cost[b]; });
  WorkList wl;
  wl.items.reserve(order.size());
  for (int32_t b : order) {
    FfaWorkItem it{};
    it.block_start = starts[b];
    it.block_end = ends[b];
    it.seg_begin = static_cast<int32_t>(wl.segs.size());
    wl.segs.insert(wl.segs.end(), per_block[b].begin(), per_block[b].end());
    it.seg_end = static_cast<int32_t>(wl.segs.size());
    it.cost = static_cast<int32_t>(std::min<int64_t>(cost[b], INT32_MAX));
    wl.items.push_back(it);
  }
  return wl;
}

}  // namespace

void slice_diagonals(const AttnSlice& s, int32_t& dlo, int32_t& dhi) {
  dlo = -kNoDiagBound;
  dhi = kNoDiagBound;
  // CAUSAL: j <= i + (Sk - Sq)  <=>  k - q <= ke - qe.  INVCAUSAL: j >= i  <=>  k - q >= ks - qs.
  if (s.type == AttnMaskType::kCausal || s.type == AttnMaskType::kBiCausal) {
    dhi = static_cast<int32_t>(s.k.end - s.q.end + 1);
  }
  if (s.type == AttnMaskType::kInvCausal || s.type == AttnMaskType::kBiCausal) {
    dlo = static_cast<int32_t>(s.k.start - s.q.start);
  }
}

WorkList build_fwd_work(std::span<const AttnSlice> slices, int64_t total_q, int block_m) {
  MAGI_CHECK(total_q < (int64_t{1} << 30), "FFA CUDA: total_q = ", total_q, ": must be < 2^30");
  // Row blocks: contiguous, at most block_m rows, cutting at slice row boundaries at least
  // block_m / 8 rows into a block. A block that straddles a boundary runs each side's key
  // tiles with the other side's rows masked, so without the cuts documents that do not start
  // on a multiple of block_m cost one extra block each.
  std::vector<int64_t> cuts;
  for (const AttnSlice& s : slices) {
    if (s.q.empty() || s.k.empty()) continue;
    cuts.push_back(s.q.start);
    cuts.push_back(s.q.end);
  }
  std::sort(cuts.begin(), cuts.end());
  std::vector<int32_t> starts, ends;
  const int64_t min_rows = std::max(1, block_m / 8);
  auto next_cut = cuts.begin();
  for (int64_t pos = 0; pos < total_q;) {
    int64_t end = std::min<int64_t>(pos + block_m, total_q);
    next_cut = std::upper_bound(next_cut, cuts.end(), pos + min_rows - 1);
    if (next_cut != cuts.end() && *next_cut < end) end = *next_cut;
    starts.push_back(static_cast<int32_t>(pos));
    ends.push_back(static_cast<int32_t>(end));
    pos = end;
  }
  const size_t nblocks = starts.size();
  std::vector<std::vector<FfaSegment>> per_block(nblocks);
  std::vector<int64_t> cost(nblocks, 0);
  for (const AttnSlice& s : slices) {
    if (s.q.empty() || s.k.empty()) continue;
    int32_t dlo, dhi;
    slice_diagonals(s, dlo, dhi);
    // First block containing s.q.start: the last start <= it.
    size_t b = static_cast<size_t>(
        std::upper_bound(starts.begin(), starts.end(), static_cast<int32_t>(s.q.start)) -
        starts.begin() - 1);
    for (; b < nblocks && starts[b] < s.q.end; ++b) {
      const int64_t r0 = std::max<int64_t>(s.q.start, starts[b]);
      const int64_t r1 = std::min<int64_t>(s.q.end, ends[b]);
      // Keys seen by any of rows [r0, r1): row r sees [max(ks, r + dlo), min(ke, r + dhi)).
      const int64_t k0 = std::max<int64_t>(s.k.start, r0 + dlo);
      const int64_t k1 = std::min<int64_t>(s.k.end, r1 - 1 + int64_t{dhi});
      if (k1 <= k0) continue;
      per_block[b].push_back({static_cast<int32_t>(r0), static_cast<int32_t>(r1),
                              static_cast<int32_t>(k0), static_cast<int32_t>(k1), dlo, dhi});
      cost[b] += k1 - k0;
    }
  }
  return finish(per_block, cost, starts, ends, /*keep_empty=*/true);
}

WorkList build_bwd_work(std::span<const AttnSlice> slices, int64_t total_k, int block_n,
                        int block_m, BwdKeyBlocks blocks) {
  MAGI_CHECK(total_k < (int64_t{1} << 30), "FFA CUDA: total_k = ", total_k, ": must be < 2^30");
  // The blocks' starts, ascending: block b holds keys [starts[b], starts[b + 1] or total_k).
  std::vector<int32_t> starts;
  if (blocks == BwdKeyBlocks::kAnchored) {
    std::vector<std::pair<int64_t, int64_t>> ranges;  // the large slices' key ranges, by start
    for (const AttnSlice& s : slices) {
      if (!s.q.empty() && s.q.size() >= block_m && s.k.size() >= block_n) {
        ranges.emplace_back(s.k.start, s.k.end);
      }
    }
    std::sort(ranges.begin(), ranges.end());
    const int64_t min_offset = std::max(1, block_n / 8);
    int64_t region = 0;  // the current region's start
    int64_t reach = 0;   // the furthest key end of the large slices that start before `cut`
    size_t before = 0;   // ranges[0, before) start before `cut`
    const auto close_region = [&](int64_t end) {
      for (int64_t c = region; c < end; c += block_n) starts.push_back(static_cast<int32_t>(c));
      region = end;
    };
    for (const auto& range : ranges) {
      const int64_t cut = range.first;
      for (; before < ranges.size() && ranges[before].first < cut; ++before) {
        reach = std::max(reach, ranges[before].second);
      }
      if (reach > cut || (cut - region) % block_n < min_offset) continue;
      close_region(cut);
    }
    close_region(total_k);
  } else {
    for (int64_t c = 0; c < total_k; c += block_n) starts.push_back(static_cast<int32_t>(c));
  }
  std::vector<std::vector<FfaSegment>> per_block(starts.size());
  std::vector<int64_t> cost(starts.size(), 0);
  auto add = [&](size_t blk, const AttnSlice& s, int64_t c0, int64_t c1, int32_t dlo, int32_t dhi) {
    // Rows that see any of keys [c0, c1): dlo <= c - q < dhi  <=>  c - dhi < q <= c - dlo.
    const int64_t q0 = std::max<int64_t>(s.q.start, c0 - int64_t{dhi} + 1);
    const int64_t q1 = std::min<int64_t>(s.q.end, c1 - 1 - int64_t{dlo} + 1);
    if (q1 <= q0) return;
    per_block[blk].push_back({static_cast<int32_t>(q0), static_cast<int32_t>(q1),
                              static_cast<int32_t>(c0), static_cast<int32_t>(c1), dlo, dhi});
    cost[blk] += q1 - q0;
  };
  for (const AttnSlice& s : slices) {
    if (s.q.empty() || s.k.empty()) continue;
    int32_t dlo, dhi;
    slice_diagonals(s, dlo, dhi);
    // The first block holding s.k.start: the last start <= it.
    size_t b = static_cast<size_t>(std::upper_bound(starts.begin(), starts.end(), s.k.start) -
                                   starts.begin() - 1);
    for (; b < starts.size() && starts[b] < s.k.end; ++b) {
      const int64_t end = b + 1 < starts.size() ? starts[b + 1] : total_k;
      add(b, s, std::max<int64_t>(s.k.start, starts[b]), std::min<int64_t>(s.k.end, end), dlo, dhi);
    }
  }
  // An item's block ends at the last key any of its segments covers: the keys it writes.
  std::vector<int32_t> ends(starts.size());
  for (size_t b = 0; b < starts.size(); ++b) {
    ends[b] = starts[b];
    for (const FfaSegment& g : per_block[b]) ends[b] = std::max(ends[b], g.k1);
  }
  WorkList wl = finish(per_block, cost, starts, ends, /*keep_empty=*/false);
  // The blocks partition the keys; the items cover them all unless a key lies in no item's
  // block (no cell sees it; its dK / dV are then zero).
  int64_t keys = 0;
  for (const FfaWorkItem& it : wl.items) keys += it.block_end - it.block_start;
  wl.covers_keys = keys == total_k;
  return wl;
}

void add_row_turns(WorkList& wl, int block_m) {
  MAGI_CHECK(block_m >= 1, "add_row_turns: block_m = ", block_m);
  // A segment's query tiles, aligned to global blocks of block_m rows: the turns' count and
  // their fill below both walk this many from global row block q0 / block_m.
  auto tiles_of = [&](const FfaSegment& s) -> int64_t {
    const int64_t r0 = int64_t{s.q0} / block_m * block_m;
    return s.q1 > r0 ? (s.q1 - r0 + block_m - 1) / block_m : 0;
  };
  // The list in turn order: latest first row block first, then fewest tiles, then key block.
  struct Key {
    int64_t first = -1, tiles = 0;  // -1: no segments (last)
    int32_t block_start;
  };
  std::vector<Key> keys(wl.items.size());
  std::vector<size_t> order(wl.items.size());
  for (size_t i = 0; i < wl.items.size(); ++i) {
    Key& k = keys[i];
    k.block_start = wl.items[i].block_start;
    for (int g = wl.items[i].seg_begin; g < wl.items[i].seg_end; ++g) {
      const int64_t n = tiles_of(wl.segs[g]);
      if (n > 0 && k.tiles == 0) k.first = wl.segs[g].q0 / block_m;
      k.tiles += n;
    }
    order[i] = i;
  }
  std::sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    const Key &a = keys[x], &b = keys[y];
    if (a.first != b.first) return a.first > b.first;
    if (a.tiles != b.tiles) return a.tiles < b.tiles;
    return a.block_start < b.block_start;
  });
  // An item's tiles hold row_turns[turn_begin, ...) in walk order, their turns counted over
  // the items in list order.
  int64_t tiles = 0;
  for (const Key& k : keys) tiles += k.tiles;
  // NOTE: turn_begin, the turns and the kernel's index into them are 32-bit.
  MAGI_CHECK(tiles < (int64_t{1} << 31),
             "FFA CUDA: the deterministic backward numbers this mask's ", tiles, " query tiles of ",
             block_m,
             " rows in 32 bits, at most 2^31 - 1 (use a "
             "smaller mask per call, or deterministic=False)");
  std::vector<FfaWorkItem> items;
  items.reserve(wl.items.size());
  tiles = 0;
  for (const size_t i : order) {
    items.push_back(wl.items[i]);
    items.back().turn_begin = static_cast<int32_t>(tiles);
    tiles += keys[i].tiles;
  }
  wl.items = std::move(items);
  wl.row_turns.assign(static_cast<size_t>(tiles), 0);
  std::unordered_map<int64_t, int32_t> seen;  // tiles so far per global row block
  for (const FfaWorkItem& it : wl.items) {
    size_t at = static_cast<size_t>(it.turn_begin);
    for (int g = it.seg_begin; g < it.seg_end; ++g) {
      const FfaSegment& s = wl.segs[g];
      const int64_t first = s.q0 / block_m, n = tiles_of(s);
      for (int64_t t = 0; t < n; ++t) wl.row_turns[at++] = seen[first + t]++;
    }
  }
}

}  // namespace magi::cuda
