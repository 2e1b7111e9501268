// Properties every solver shares: an equal split that is a permutation of all chunks.
#include <gtest/gtest.h>

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

TEST(Solvers, RejectUnequalSplits) {
  const std::vector<int64_t> costs = {1, 2, 3, 4, 5};
  EXPECT_THROW(dispatch::solve_min_heap(costs, 2), Error);
  EXPECT_THROW(dispatch::solve_sequential(5, 2), Error);
  EXPECT_THROW(dispatch::solve_exact(costs, 2), Error);
  EXPECT_THROW(dispatch::solve_min_heap(costs, 0), Error);
  try {
    dispatch::solve_min_heap(costs, 2);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("num_chunks = 5"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace magi
