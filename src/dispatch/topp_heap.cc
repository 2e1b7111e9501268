#include <algorithm>
#include <cmath>
#include <numeric>

#include "dispatch/solvers.h"

namespace magi::dispatch {

std::vector<AttnRanges> chunk_k_ranges(const ChunkedMask& mask) {
  std::vector<AttnRanges> out(static_cast<size_t>(mask.num_chunks()));
  for (int64_t c = 0; c < mask.num_chunks(); ++c) {
    AttnRanges ks;
    // A trimmed band's columns all hold a cell of its rows, and they are contiguous.
    for (const ChunkPiece& p : mask.chunk(c)) ks.push_back(p.band.k);
    out[c] = ks.merged();
  }
  return out;
}

Buckets solve_topp_heap(std::span<const int64_t> costs, std::span<const AttnRanges> k_ranges,
                        int64_t num_buckets, double top_p) {
  const int64_t n = static_cast<int64_t>(costs.size());
  check_equal_split(n, num_buckets);
  MAGI_CHECK(top_p >= 0.0 && top_p <= 1.0, "top_p = ", top_p, ": must be in [0, 1]");
  MAGI_CHECK(static_cast<int64_t>(k_ranges.size()) == n, "k_ranges.size() = ", k_ranges.size(),
             ": must equal num_chunks = ", n);
  const size_t cap = static_cast<size_t>(n / num_buckets);
  // NOTE: the epsilon keeps k * top_p from rounding up past an exact integer (4 * 0.25).
  const int64_t m = std::max<int64_t>(
      1, static_cast<int64_t>(std::ceil(static_cast<double>(num_buckets) * top_p - 1e-9)));

  Buckets buckets(static_cast<size_t>(num_buckets));
  std::vector<int64_t> loads(static_cast<size_t>(num_buckets), 0);
  std::vector<AttnRanges> held(static_cast<size_t>(num_buckets));  // merged k ranges per bucket
  std::vector<int64_t> open;                                       // non-full buckets
  for (int64_t job : descending_order(costs)) {
    open.clear();
    for (int64_t b = 0; b < num_buckets; ++b) {
      if (buckets[b].size() < cap) open.push_back(b);
    }
    const size_t top = std::min(open.size(), static_cast<size_t>(m));
    std::partial_sort(open.begin(), open.begin() + top, open.end(), [&](int64_t a, int64_t b) {
      return loads[a] != loads[b] ? loads[a] < loads[b] : a < b;
    });
    // Candidates are in (load, id) order and only a strictly larger overlap displaces the
    // current pick, so ties and "no overlap at all" fall back to MinHeap's choice.
    const AttnRanges& want = k_ranges[job];
    int64_t pick = open[0], best = want.empty() ? 0 : held[pick].intersect(want).total_size();
    for (size_t i = 1; i < top && !want.empty(); ++i) {
      const int64_t overlap = held[open[i]].intersect(want).total_size();
      if (overlap > best) pick = open[i], best = overlap;
    }
    buckets[pick].push_back(job);
    loads[pick] += costs[job];
    std::vector<AttnRange> both(held[pick].begin(), held[pick].end());
    both.insert(both.end(), want.begin(), want.end());
    held[pick] = AttnRanges(std::move(both)).merged();
  }
  return buckets;
}

}  // namespace magi::dispatch
