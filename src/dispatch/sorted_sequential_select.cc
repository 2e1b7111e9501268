#include <algorithm>
#include <cmath>
#include <numeric>

#include "dispatch/solvers.h"

namespace magi::dispatch {
namespace {

struct UnionFind {
  std::vector<int64_t> parent;
  explicit UnionFind(size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), 0); }
  int64_t find(int64_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  }
  void unite(int64_t a, int64_t b) {
    a = find(a), b = find(b);
    if (a != b) parent[std::max(a, b)] = std::min(a, b);
  }
};

// Unites the items whose intervals overlap (directly or through a chain): sorted by start, an
// interval joins the running group while it starts before the group's furthest end.
template <typename GetRange>
void unite_overlapping(std::vector<int64_t> items, GetRange range, UnionFind& uf) {
  std::sort(items.begin(), items.end(),
            [&](int64_t a, int64_t b) { return range(a).start < range(b).start; });
  int64_t group = -1, group_end = 0;
  for (int64_t i : items) {
    const AttnRange r = range(i);
    if (group >= 0 && r.start < group_end) {
      uf.unite(group, i);
      group_end = std::max(group_end, r.end);
    } else {
      group = i;
      group_end = r.end;
    }
  }
}

// Least-loaded bucket with room (ties to the smaller id), skipping `avoid` when another has
// room; -1 when all are full.
int64_t least_loaded(const std::vector<int64_t>& loads, const Buckets& buckets, size_t cap,
                     int64_t avoid = -1) {
  int64_t best = -1, fallback = -1;
  for (int64_t b = 0; b < static_cast<int64_t>(loads.size()); ++b) {
    if (buckets[b].size() >= cap) continue;
    if (b == avoid) {
      fallback = b;
      continue;
    }
    if (best < 0 || loads[b] < loads[best]) best = b;
  }
  return best >= 0 ? best : fallback;
}

}  // namespace

std::vector<int64_t> chunk_sample_ids(const ChunkedMask& mask) {
  // Group the disjoint slices that hold a cell; an empty slice gets no sample.
  const size_t n = mask.disjoint.size();
  std::vector<mask::Band> bands(n);
  std::vector<int64_t> live;
  for (size_t i = 0; i < n; ++i) {
    bands[i] = mask::Band::from_slice(mask.disjoint[i]).trimmed();
    if (!bands[i].empty()) live.push_back(static_cast<int64_t>(i));
  }
  UnionFind uf(n);
  unite_overlapping(
      live, [&](int64_t i) { return bands[i].q; }, uf);
  unite_overlapping(
      live, [&](int64_t i) { return bands[i].k; }, uf);

  // Number the groups in order of their first row.
  std::vector<int64_t> sample_of_root(n, -1), sample(n, -1);
  std::vector<int64_t> by_row = live;
  std::stable_sort(by_row.begin(), by_row.end(),
                   [&](int64_t a, int64_t b) { return bands[a].q.start < bands[b].q.start; });
  int64_t num_samples = 0;
  for (int64_t i : by_row) {
    int64_t& s = sample_of_root[uf.find(i)];
    if (s < 0) s = num_samples++;
    sample[i] = s;
  }

  std::vector<int64_t> out(static_cast<size_t>(mask.num_chunks()), -1);
  std::vector<std::pair<int64_t, int64_t>> votes;  // (sample, cells) in this chunk
  for (int64_t c = 0; c < mask.num_chunks(); ++c) {
    votes.clear();
    for (const ChunkPiece& p : mask.chunk(c)) {
      const int64_t s = sample[p.source];
      auto it =
          std::find_if(votes.begin(), votes.end(), [&](const auto& v) { return v.first == s; });
      if (it == votes.end()) {
        votes.push_back({s, p.band.area()});
      } else {
        it->second += p.band.area();
      }
    }
    int64_t best_cells = 0;
    for (const auto& [s, cells] : votes) {
      if (out[c] < 0 || cells > best_cells || (cells == best_cells && s < out[c])) {
        out[c] = s;
        best_cells = cells;
      }
    }
  }
  return out;
}

Buckets solve_sorted_sequential_select(std::span<const int64_t> costs,
                                       std::span<const int64_t> sample_ids, int64_t num_buckets,
                                       double allocation_ratio) {
  const int64_t n = static_cast<int64_t>(costs.size());
  check_equal_split(n, num_buckets);
  MAGI_CHECK(allocation_ratio > 0.0 && allocation_ratio <= 1.0,
             "allocation_ratio = ", allocation_ratio, ": must be in (0, 1]");
  MAGI_CHECK(static_cast<int64_t>(sample_ids.size()) == n,
             "sample_ids.size() = ", sample_ids.size(), ": must equal num_chunks = ", n);
  const size_t cap = static_cast<size_t>(n / num_buckets);

  // Chunks per sample, highest chunk id first; chunks of sample -1 wait until the end.
  int64_t num_samples = 0;
  for (int64_t s : sample_ids) {
    MAGI_CHECK(s >= -1, "sample_ids = ", s, ": must be >= -1");
    num_samples = std::max(num_samples, s + 1);
  }
  std::vector<std::vector<int64_t>> chunks_of(static_cast<size_t>(num_samples));
  std::vector<int64_t> sample_cost(static_cast<size_t>(num_samples), 0), leftovers;
  for (int64_t c = n - 1; c >= 0; --c) {
    if (sample_ids[c] < 0) {
      leftovers.push_back(c);
      continue;
    }
    chunks_of[sample_ids[c]].push_back(c);
    sample_cost[sample_ids[c]] += costs[c];
  }
  std::reverse(leftovers.begin(), leftovers.end());
  std::vector<int64_t> samples(static_cast<size_t>(num_samples));
  std::iota(samples.begin(), samples.end(), int64_t{0});
  std::stable_sort(samples.begin(), samples.end(),
                   [&](int64_t a, int64_t b) { return sample_cost[a] > sample_cost[b]; });

  Buckets buckets(static_cast<size_t>(num_buckets));
  std::vector<int64_t> loads(static_cast<size_t>(num_buckets), 0);
  auto place = [&](int64_t b, int64_t c) {
    buckets[b].push_back(c);
    loads[b] += costs[c];
  };
  for (int64_t s : samples) {
    const std::vector<int64_t>& chunks = chunks_of[s];
    if (chunks.empty()) continue;
    // NOTE: the small epsilon keeps ratio * count from rounding up past an exact integer.
    const size_t limit = allocation_ratio >= 1.0
                             ? chunks.size()
                             : static_cast<size_t>(std::max(
                                   1.0, std::ceil(allocation_ratio * chunks.size() - 1e-9)));
    int64_t cur = least_loaded(loads, buckets, cap);
    size_t placed = 0;
    for (int64_t c : chunks) {
      if (buckets[cur].size() >= cap || placed == limit) {
        cur = least_loaded(loads, buckets, cap, cur);
        placed = 0;
      }
      place(cur, c);
      ++placed;
    }
  }
  for (int64_t c : leftovers) place(least_loaded(loads, buckets, cap), c);
  return buckets;
}

}  // namespace magi::dispatch
