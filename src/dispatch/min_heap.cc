#include <algorithm>
#include <numeric>
#include <queue>

#include "dispatch/solvers.h"

namespace magi::dispatch {

std::vector<int64_t> descending_order(std::span<const int64_t> costs) {
  std::vector<int64_t> order(costs.size());
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return costs[a] < costs[b]; });
  std::reverse(order.begin(), order.end());
  return order;
}

Buckets solve_min_heap(std::span<const int64_t> costs, int64_t num_buckets) {
  const int64_t n = static_cast<int64_t>(costs.size());
  MAGI_CHECK(num_buckets >= 1, "cp_size = ", num_buckets, ": must be >= 1");
  const size_t cap = static_cast<size_t>((n + num_buckets - 1) / num_buckets);
  Buckets buckets(static_cast<size_t>(num_buckets));
  if (cap == 0) return buckets;

  // Min-heap on (load, bucket id): the top is the least-loaded bucket, ties to the smaller id.
  // A bucket that becomes full is not pushed back, which is the same as the original popping
  // and dropping full buckets.
  using Entry = std::pair<int64_t, int64_t>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap;
  for (int64_t b = 0; b < num_buckets; ++b) heap.push({0, b});
  for (int64_t job : descending_order(costs)) {
    const auto [load, b] = heap.top();
    heap.pop();
    buckets[b].push_back(job);
    if (buckets[b].size() < cap) heap.push({load + costs[job], b});
  }
  return buckets;
}

}  // namespace magi::dispatch
