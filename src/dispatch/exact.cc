#include <algorithm>

#include "dispatch/solvers.h"

namespace magi::dispatch {
namespace {

// Depth-first search over "job i goes to bucket b", jobs largest first. State is the loads and
// counts of the buckets; `best` is the smallest max load found so far (seeded with MinHeap's).
class BranchAndBound {
 public:
  BranchAndBound(std::span<const int64_t> costs, int64_t num_buckets)
      : cost_(costs.begin(), costs.end()),
        order_(descending_order(costs)),
        k_(num_buckets),
        cap_(static_cast<int64_t>(costs.size()) / num_buckets),
        load_(static_cast<size_t>(num_buckets), 0),
        count_(static_cast<size_t>(num_buckets), 0),
        assign_(costs.size(), -1) {
    for (int64_t j : order_) w_.push_back(costs[j]);
    // tail_[f] = sum of the f smallest jobs = the last f in descending order. Any f of the jobs
    // not yet placed cost at least tail_[f], as long as f <= the number not yet placed.
    tail_.assign(w_.size() + 1, 0);
    for (size_t f = 1; f <= w_.size(); ++f) tail_[f] = tail_[f - 1] + w_[w_.size() - f];
    // rest_[i] = sum of the jobs from i on.
    rest_.assign(w_.size() + 1, 0);
    for (size_t i = w_.size(); i-- > 0;) rest_[i] = rest_[i + 1] + w_[i];
    const int64_t total = rest_[0];
    lower_ = (total + k_ - 1) / k_;
    // A bucket holds cap_ jobs, so one of them holds the largest and the cap_ - 1 smallest.
    if (!w_.empty()) lower_ = std::max(lower_, w_[0] + tail_[cap_ - 1]);
  }

  Buckets solve(const Buckets& start) {
    best_buckets_ = start;
    best_ = 0;
    for (const auto& b : start) {
      int64_t load = 0;
      for (int64_t c : b) load += cost_[c];
      best_ = std::max(best_, load);
    }
    if (best_ > lower_) search(0, 0);
    return best_buckets_;
  }

 private:
  // Places job i onward; `max_load` is the largest current bucket load.
  void search(size_t i, int64_t max_load) {
    if (i == w_.size()) {
      best_ = max_load;  // strictly better: every branch taken was below best_
      best_buckets_.assign(static_cast<size_t>(k_), {});
      for (size_t j = 0; j < w_.size(); ++j) best_buckets_[assign_[j]].push_back(order_[j]);
      return;
    }
    // Each bucket must still take its free slots from the remaining jobs, at the very least
    // the smallest ones; if that already reaches best_, this branch cannot improve.
    // Also, the remaining work must fit in the room the buckets have left: bucket b can take
    // at most best_ - 1 - load, and at most its free slots' worth of the largest jobs left.
    int64_t room = 0;
    for (int64_t b = 0; b < k_; ++b) {
      const int64_t free = cap_ - count_[b];
      if (load_[b] + tail_[free] >= best_) return;
      room += std::min(best_ - 1 - load_[b], rest_[i] - rest_[i + free]);
    }
    if (room < rest_[i]) return;
    // Try buckets in (load, id) order, so good solutions come first and tighten best_ early.
    std::vector<int64_t> cand;
    for (int64_t b = 0; b < k_; ++b) {
      if (count_[b] < cap_) cand.push_back(b);
    }
    std::sort(cand.begin(), cand.end(), [&](int64_t a, int64_t b) {
      return load_[a] != load_[b] ? load_[a] < load_[b] : a < b;
    });
    for (size_t ci = 0; ci < cand.size(); ++ci) {
      const int64_t b = cand[ci];
      // Symmetry breaking: buckets with the same load and count lead to the same subtrees.
      bool seen = false;
      for (size_t cj = 0; cj < ci && !seen; ++cj) {
        seen = load_[cand[cj]] == load_[b] && count_[cand[cj]] == count_[b];
      }
      if (seen) continue;
      const int64_t nl = load_[b] + w_[i];
      if (nl + tail_[cap_ - count_[b] - 1] >= best_) continue;
      load_[b] = nl, ++count_[b], assign_[i] = b;
      search(i + 1, std::max(max_load, nl));
      load_[b] -= w_[i], --count_[b], assign_[i] = -1;
      if (best_ <= lower_) return;  // provably optimal: stop
    }
  }

  std::vector<int64_t> cost_;                     // per chunk id
  std::vector<int64_t> order_, w_, tail_, rest_;  // jobs largest first, costs, bound sums
  int64_t k_, cap_;
  std::vector<int64_t> load_, count_, assign_;
  int64_t lower_ = 0, best_ = 0;
  Buckets best_buckets_;
};

}  // namespace

Buckets solve_exact(std::span<const int64_t> costs, int64_t num_buckets) {
  const int64_t n = static_cast<int64_t>(costs.size());
  MAGI_CHECK(n <= kMaxExactChunks, "num_chunks = ", n,
             ": the exact dispatch solver accepts at most ", kMaxExactChunks,
             " chunks (use a heuristic)");
  check_equal_split(n, num_buckets);
  if (n == 0) return Buckets(static_cast<size_t>(num_buckets));
  return BranchAndBound(costs, num_buckets).solve(solve_min_heap(costs, num_buckets));
}

}  // namespace magi::dispatch
