#include <gtest/gtest.h>

#include <random>
#include <string>

#include "dispatch/solver_testing.h"
#include "dispatch/solvers.h"
#include "magi/check.h"

namespace magi {
namespace {

using dispatch::Buckets;

// Optimal max load by trying every equal-count assignment (tiny inputs only).
int64_t brute_force_optimum(const std::vector<int64_t>& costs, int64_t k) {
  const int64_t n = static_cast<int64_t>(costs.size()), cap = n / k;
  std::vector<int64_t> load(static_cast<size_t>(k), 0), count(static_cast<size_t>(k), 0);
  int64_t best = INT64_MAX;
  auto rec = [&](auto&& self, int64_t i) -> void {
    if (i == n) {
      best = std::min(best, *std::max_element(load.begin(), load.end()));
      return;
    }
    for (int64_t b = 0; b < k; ++b) {
      if (count[b] == cap) continue;
      load[b] += costs[i], ++count[b];
      self(self, i + 1);
      load[b] -= costs[i], --count[b];
    }
  };
  rec(rec, 0);
  return best;
}

TEST(Exact, HandCases) {
  // MinHeap's known case is already optimal: 16 must share a rank with at least 2.
  const std::vector<int64_t> a = {2, 4, 3, 16, 13, 5, 9, 10};
  EXPECT_EQ(testing::max_load(dispatch::solve_exact(a, 4), a), 18);
  // Greedy: 4 | 2, 2 ; the next 2 ties onto bucket 0 (6), 1 fills bucket 1 (5) and the last
  // 1 is forced onto bucket 0: max 7. Optimal: {4, 1, 1} and {2, 2, 2}, both 6.
  const std::vector<int64_t> b = {4, 2, 2, 2, 1, 1};
  EXPECT_EQ(testing::max_load(dispatch::solve_min_heap(b, 2), b), 7);
  const Buckets eb = dispatch::solve_exact(b, 2);
  EXPECT_EQ(testing::max_load(eb, b), 6);
  EXPECT_TRUE(testing::is_equal_split(eb, 6, 2));
  // Three ranks of three: total 40, so 14 is a lower bound, met by {8, 4, 2} {7, 5, 2}
  // {6, 3, 3}.
  const std::vector<int64_t> c = {8, 7, 6, 5, 4, 3, 3, 2, 2};
  EXPECT_EQ(testing::max_load(dispatch::solve_exact(c, 3), c), 14);
  const std::vector<int64_t> zeros = {0, 0, 0, 0};
  EXPECT_EQ(testing::max_load(dispatch::solve_exact(zeros, 2), zeros), 0);
  const std::vector<int64_t> one = {9, 1, 5};
  EXPECT_EQ(dispatch::solve_exact(one, 1).size(), 1u);
}

TEST(Exact, MatchesBruteForceOnTinyInstances) {
  std::mt19937_64 rng(61);
  for (int iter = 0; iter < 600; ++iter) {
    const int64_t k = std::uniform_int_distribution<int64_t>(1, 4)(rng);
    const int64_t n = k * std::uniform_int_distribution<int64_t>(1, 8 / k)(rng);
    const auto costs = testing::random_costs(rng, n);
    const Buckets b = dispatch::solve_exact(costs, k);
    ASSERT_TRUE(testing::is_equal_split(b, n, k)) << iter;
    ASSERT_EQ(testing::max_load(b, costs), brute_force_optimum(costs, k)) << iter;
  }
}

TEST(Exact, NeverWorseThanAHeuristic) {
  std::mt19937_64 rng(62);
  for (int iter = 0; iter < 1000; ++iter) {
    const int64_t k = std::uniform_int_distribution<int64_t>(1, 6)(rng);
    const int64_t n = k * std::uniform_int_distribution<int64_t>(1, 16 / k)(rng);
    const auto costs = testing::random_costs(rng, n);
    std::vector<int64_t> ids(static_cast<size_t>(n));
    for (int64_t c = 0; c < n; ++c) ids[c] = c % 3;
    const std::vector<AttnRanges> ks(static_cast<size_t>(n));
    const int64_t exact = testing::max_load(dispatch::solve_exact(costs, k), costs);
    ASSERT_LE(exact, testing::max_load(dispatch::solve_min_heap(costs, k), costs)) << iter;
    ASSERT_LE(exact, testing::max_load(dispatch::solve_sequential(n, k), costs)) << iter;
    ASSERT_LE(exact, testing::max_load(dispatch::solve_sorted_sequential_select(costs, ids, k, 1.0),
                                       costs))
        << iter;
    ASSERT_LE(exact, testing::max_load(dispatch::solve_topp_heap(costs, ks, k, 0.5), costs))
        << iter;
  }
}

TEST(Exact, LargestAcceptedSizeFinishes) {
  std::mt19937_64 rng(63);
  for (int64_t k : {2, 4, 5, 10}) {
    const int64_t n = dispatch::kMaxExactChunks;
    const auto costs = testing::random_costs(rng, n);
    EXPECT_TRUE(testing::is_equal_split(dispatch::solve_exact(costs, k), n, k)) << k;
  }
}

TEST(Exact, TooManyChunksIsNamed) {
  const std::vector<int64_t> costs(32, 1);
  try {
    dispatch::solve_exact(costs, 2);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("num_chunks = 32"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace magi
