#include "plan/overlap_solver.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace magi::plan {
namespace {

TEST(UniformStages, MatchesTheOriginalGrouping) {
  // 6 remote chunks, degree 3: [host, 1..6] cut 3/2/2 -> {1,2}, {3,4}, {5,6} (1-based).
  const Stages s = uniform_stages(6, 3, {});
  EXPECT_EQ(s, (Stages{{0, 1}, {2, 3}, {4, 5}}));
  // More stages than chunks: the extra stages stay empty.
  EXPECT_EQ(uniform_stages(2, 4, {}), (Stages{{0}, {1}, {}, {}}));
  EXPECT_EQ(uniform_stages(0, 2, {}), (Stages{{}, {}}));
}

TEST(UniformStages, ShuffleIsAPermutationAndSeeded) {
  OverlapAlg alg;
  alg.random_costs = true;
  alg.random_seed = 42;
  const Stages a = uniform_stages(20, 4, alg), b = uniform_stages(20, 4, alg);
  EXPECT_EQ(a, b);
  std::vector<int64_t> all;
  for (const auto& st : a) all.insert(all.end(), st.begin(), st.end());
  std::sort(all.begin(), all.end());
  for (int64_t i = 0; i < 20; ++i) EXPECT_EQ(all[i], i);
  alg.random_seed = 43;
  EXPECT_NE(uniform_stages(20, 4, alg), a);
}

TEST(GreedyStages, NeverWorseThanUniformAndUsesEveryChunkOnce) {
  std::mt19937_64 rng(9);
  OverlapAlg greedy;
  greedy.type = OverlapAlgType::kGreedy;
  int better = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    OverlapCosts c;
    const int n = static_cast<int>(rng() % 12);
    c.host_calc = static_cast<double>(rng() % 100);
    for (int i = 0; i < n; ++i) {
      c.comm.push_back(static_cast<double>(rng() % 50));
      c.calc.push_back(static_cast<double>(rng() % 50));
    }
    const int64_t d = 1 + static_cast<int64_t>(rng() % 5);
    const Stages g = greedy_stages(c, d, greedy), u = uniform_stages(n, d, {});
    ASSERT_EQ(static_cast<int64_t>(g.size()), d);
    std::vector<int64_t> all;
    for (const auto& st : g) all.insert(all.end(), st.begin(), st.end());
    std::sort(all.begin(), all.end());
    ASSERT_EQ(static_cast<int>(all.size()), n);
    for (int i = 0; i < n; ++i) ASSERT_EQ(all[i], i);
    ASSERT_LE(overlap_cost(c, g), overlap_cost(c, u));
    better += overlap_cost(c, g) < overlap_cost(c, u);
  }
  EXPECT_GT(better, 0) << "greedy never improved on uniform";
}

TEST(OverlapCost, FollowsThePipelineModel) {
  OverlapCosts c{10, {4, 20}, {6, 8}};
  // stage 0 = {0}: max(4, 10) ; stage 1 = {1}: max(20, 6) ; + calc(last) 8
  EXPECT_DOUBLE_EQ(overlap_cost(c, {{0}, {1}}), 10 + 20 + 8);
  EXPECT_DOUBLE_EQ(overlap_cost(c, {{0, 1}}), 24 + 14);
  EXPECT_EQ(best_degree(c, 4, {}), 1);
}

}  // namespace
}  // namespace magi::plan
