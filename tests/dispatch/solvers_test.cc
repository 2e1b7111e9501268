// Properties every solver shares: an equal split that is a permutation of all chunks (within
// one chunk per bucket for the uneven-shard solvers).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "dispatch/solver_testing.h"
#include "dispatch/solvers.h"
#include "magi/check.h"
#include "testing/random_mask.h"

namespace magi {
namespace {

using dispatch::Buckets;

std::vector<AttnRanges> random_k_ranges(std::mt19937_64& rng, int64_t n) {
  std::vector<AttnRanges> out(static_cast<size_t>(n));
  for (auto& rs : out) {
    const int m = std::uniform_int_distribution<int>(0, 3)(rng);
    AttnRanges r;
    for (int i = 0; i < m; ++i) r.push_back(testing::random_range(rng, 200));
    rs = r.merged();
  }
  return out;
}

std::vector<int64_t> random_sample_ids(std::mt19937_64& rng, int64_t n) {
  std::vector<int64_t> ids(static_cast<size_t>(n));
  const int64_t samples = std::uniform_int_distribution<int64_t>(1, 6)(rng);
  for (auto& s : ids) s = std::uniform_int_distribution<int64_t>(-1, samples - 1)(rng);
  return ids;
}

TEST(Solvers, EqualSplitPermutationOnRandomCosts) {
  std::mt19937_64 rng(31);
  for (int iter = 0; iter < 3000; ++iter) {
    const int64_t k = std::uniform_int_distribution<int64_t>(1, 16)(rng);
    const int64_t per = std::uniform_int_distribution<int64_t>(1, 8)(rng);
    const int64_t n = k * per;
    const auto costs = testing::random_costs(rng, n);
    const double top_p = std::uniform_real_distribution<>(0, 1)(rng);
    const double ratio = std::uniform_real_distribution<>(0.05, 1)(rng);
    ASSERT_TRUE(testing::is_equal_split(dispatch::solve_min_heap(costs, k), n, k)) << iter;
    ASSERT_TRUE(testing::is_equal_split(dispatch::solve_sequential(n, k), n, k)) << iter;
    ASSERT_TRUE(testing::is_equal_split(
        dispatch::solve_sorted_sequential_select(costs, random_sample_ids(rng, n), k, ratio), n, k))
        << iter;
    ASSERT_TRUE(testing::is_equal_split(
        dispatch::solve_topp_heap(costs, random_k_ranges(rng, n), k, top_p), n, k))
        << iter;
    if (n <= 12) {
      ASSERT_TRUE(testing::is_equal_split(dispatch::solve_exact(costs, k), n, k)) << iter;
    }
  }
}

TEST(Solvers, EqualCountSolversRejectUnequalSplits) {
  const std::vector<int64_t> costs = {1, 2, 3, 4, 5};
  EXPECT_THROW(dispatch::solve_exact(costs, 2), Error);
  EXPECT_THROW(dispatch::solve_topp_heap(costs, std::vector<AttnRanges>(costs.size()), 2, 0.5), Error);
  EXPECT_THROW(dispatch::solve_min_heap(costs, 0), Error);
  EXPECT_THROW(dispatch::solve_sequential(5, 0), Error);
  try {
    dispatch::solve_exact(costs, 2);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("num_chunks = 5"), std::string::npos) << e.what();
  }
}

// MinHeap and Sequential (the uneven-shard solvers) take any chunk count: at most ceil(n / k)
// chunks per bucket, a permutation of the chunk ids.
TEST(Solvers, UnevenSplitsStayWithinOneChunk) {
  std::mt19937_64 rng(43);
  for (int iter = 0; iter < 1000; ++iter) {
    const int64_t k = std::uniform_int_distribution<int64_t>(1, 9)(rng);
    const int64_t n = std::uniform_int_distribution<int64_t>(0, 40)(rng);
    const auto costs = testing::random_costs(rng, n);
    for (const Buckets& b :
         {dispatch::solve_min_heap(costs, k), dispatch::solve_sequential(n, k)}) {
      ASSERT_EQ(static_cast<int64_t>(b.size()), k);
      std::vector<int64_t> all;
      for (const auto& bucket : b) {
        ASSERT_LE(static_cast<int64_t>(bucket.size()), (n + k - 1) / k) << iter;
        all.insert(all.end(), bucket.begin(), bucket.end());
      }
      std::sort(all.begin(), all.end());
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(all[i], i) << iter;
      ASSERT_EQ(static_cast<int64_t>(all.size()), n);
    }
  }
  // Sequential: the first n % k buckets take one more.
  EXPECT_EQ(dispatch::solve_sequential(5, 2), (Buckets{{0, 1, 2}, {3, 4}}));
  EXPECT_EQ(dispatch::solve_sequential(7, 3), (Buckets{{0, 1, 2}, {3, 4}, {5, 6}}));
  EXPECT_EQ(dispatch::solve_sequential(2, 3), (Buckets{{0}, {1}, {}}));
  // MinHeap, cap ceil(5 / 2) = 3: 5 -> 0, 4 -> 1, 3 -> 1 (4 < 5), 2 -> 0 (5 < 7), 1 -> 0 (7 =
  // 7, ties to the smaller id).
  const std::vector<int64_t> costs = {1, 2, 3, 4, 5};
  EXPECT_EQ(dispatch::solve_min_heap(costs, 2), (Buckets{{4, 1, 0}, {3, 2}}));
}

}  // namespace
}  // namespace magi
