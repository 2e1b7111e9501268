#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>

#include "magi/check.h"
#include "magi/plan.h"
#include "testing/plan_invariants.h"

namespace magi {
namespace {

using testing::check_plan;
using testing::PlanCase;

// The plan of case `c` over dispatch `d` (and K/V's own `dkv` in cross-attention) keeps
// check_plan's invariants, and one random rank's own plan equals its part of the whole.
void plan_and_check(const PlanCase& c, const DispatchMeta& d, const DispatchMeta* dkv,
                    const OverlapConfig& overlap, std::mt19937_64& rng, int iter) {
  const Plan plan = dkv ? make_plan(c.slices, d, *dkv, overlap) : make_plan(c.slices, d, overlap);
  SCOPED_TRACE("iteration " + std::to_string(iter) + " cp " + std::to_string(c.cp) + " total " +
               std::to_string(c.total) + " kv " + std::to_string(c.total_kv) + " chunk " +
               std::to_string(c.chunk) + " degree " + std::to_string(plan.degree));
  check_plan(c, plan);
  if (::testing::Test::HasFatalFailure()) return;
  const int64_t r = static_cast<int64_t>(rng() % c.cp);
  const Plan own =
      dkv ? make_rank_plan(c.slices, d, *dkv, overlap, r) : make_rank_plan(c.slices, d, overlap, r);
  ASSERT_EQ(own.ranks.at(0), plan.ranks[r]);
}

TEST(Planner, RandomMasksCoverEveryCellOnceAndFetchEachRowOnce) {
  std::mt19937_64 rng(2024);
  for (int iter = 0; iter < 3000; ++iter) {
    const PlanCase c = testing::random_plan_case(rng);
    const OverlapConfig overlap = testing::random_overlap(rng);
    const DispatchMeta d =
        solve_dispatch(c.slices, c.total, c.chunk, c.cp, testing::random_alg(rng));
    plan_and_check(c, d, nullptr, overlap, rng, iter);
    if (HasFatalFailure()) return;
  }
}

// Uneven shards (no padding, a short last chunk, unequal chunk counts): the same invariants.
TEST(Planner, UnevenShardsCoverEveryCellOnceAndFetchEachRowOnce) {
  std::mt19937_64 rng(2025);
  int64_t uneven = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    const PlanCase c = testing::random_uneven_plan_case(rng);
    const OverlapConfig overlap = testing::random_overlap(rng);
    const DispatchAlgType alg = iter % 2 ? DispatchAlgType::kMinHeap : DispatchAlgType::kSequential;
    DispatchMeta d;
    try {
      d = solve_dispatch(c.slices, c.total, c.chunk, c.cp, {alg}, true);
    } catch (const Error& e) {
      // MinHeap may pile zero-cost chunks onto one rank and leave another empty: an error.
      ASSERT_EQ(alg, DispatchAlgType::kMinHeap) << e.what();
      ASSERT_NE(std::string(e.what()).find("without a chunk"), std::string::npos) << e.what();
      continue;
    }
    const std::vector<int64_t> shards = d.shard_seqlens();
    uneven +=
        *std::max_element(shards.begin(), shards.end()) != shards.front() || c.total % c.chunk != 0;
    plan_and_check(c, d, nullptr, overlap, rng, iter);
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(uneven, 500);  // the cases do exercise short chunks and unequal shards
}

TEST(Planner, CrossAttentionFetchesKvRowsFromTheirOwnDispatch) {
  std::mt19937_64 rng(14);
  for (int iter = 0; iter < 1500; ++iter) {
    const PlanCase c = testing::random_cross_plan_case(rng);
    const OverlapConfig overlap = testing::random_overlap(rng);
    const DispatchAlg alg = testing::random_alg(rng);
    const DispatchMeta d = solve_dispatch(c.slices, c.total, c.chunk, c.cp, alg);
    const DispatchMeta dkv = solve_kv_dispatch(c.slices, c.total_kv, c.chunk_kv, c.cp, alg);
    plan_and_check(c, d, &dkv, overlap, rng, iter);
    if (HasFatalFailure()) return;
  }
}

TEST(Planner, CrossAttentionChecksTheTwoDispatches) {
  const std::vector<AttnSlice> full = {{{0, 8}, {0, 12}, AttnMaskType::kFull}};
  const DispatchMeta d = solve_dispatch(full, 8, 2, 2, {});
  // k ranges index K/V's rows: 12 of them do not fit a K/V dispatch of 8 rows.
  const std::vector<AttnSlice> square = {{{0, 8}, {0, 8}, AttnMaskType::kFull}};
  EXPECT_THROW(make_plan(full, d, solve_kv_dispatch(square, 8, 2, 2, {}), {}), Error);
  EXPECT_THROW(make_plan(full, d, solve_kv_dispatch(full, 12, 2, 3, {}), {}), Error);  // cp 3
  const Plan p = make_plan(full, d, solve_kv_dispatch(full, 12, 3, 2, {}), {});
  EXPECT_EQ(p.dispatch_kv.total_seqlen, 12);
  EXPECT_NE(p.to_json().find("\"kv_partitions\""), std::string::npos);
  EXPECT_EQ(make_plan(square, d, {}).to_json().find("kv_partitions"), std::string::npos);
}

// Cross-attention with uneven shards: both dispatches unpadded and uneven, the same invariants.
TEST(Planner, CrossAttentionWithUnevenShardsFetchesKvRowsFromTheirOwners) {
  std::mt19937_64 rng(15);
  int64_t uneven_kv = 0;
  for (int iter = 0; iter < 1500; ++iter) {
    const PlanCase c = testing::random_uneven_cross_plan_case(rng);
    const OverlapConfig overlap = testing::random_overlap(rng);
    const DispatchAlg alg{iter % 2 ? DispatchAlgType::kMinHeap : DispatchAlgType::kSequential};
    DispatchMeta d, dkv;
    try {
      d = solve_dispatch(c.slices, c.total, c.chunk, c.cp, alg, true);
      dkv = solve_kv_dispatch(c.slices, c.total_kv, c.chunk_kv, c.cp, alg, true);
    } catch (const Error& e) {
      // MinHeap may pile zero-cost chunks onto one rank and leave another empty: an error.
      ASSERT_EQ(alg.type, DispatchAlgType::kMinHeap) << e.what();
      ASSERT_NE(std::string(e.what()).find("without a chunk"), std::string::npos) << e.what();
      continue;
    }
    const std::vector<int64_t> shards = dkv.shard_seqlens();
    uneven_kv += *std::max_element(shards.begin(), shards.end()) != shards.front() ||
                 c.total_kv % c.chunk_kv != 0;
    plan_and_check(c, d, &dkv, overlap, rng, iter);
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(uneven_kv, 400);  // the cases do exercise short K/V chunks and unequal K/V shards
}

TEST(Planner, StageCountFollowsTheDegree) {
  const std::vector<AttnSlice> causal = {{{0, 64}, {0, 64}, AttnMaskType::kCausal}};
  const DispatchMeta d = solve_dispatch(causal, 64, 4, 4, {});
  for (int64_t degree : {0, 1, 2, 3, 4}) {
    OverlapConfig o;
    o.degree = degree;
    o.min_chunk_size = 4;
    const Plan p = make_plan(causal, d, o);
    EXPECT_EQ(p.degree, degree);
    for (const RankPlan& rp : p.ranks) {
      EXPECT_EQ(static_cast<int64_t>(rp.stages.size()), std::max<int64_t>(degree, 1));
    }
  }
}

TEST(Planner, BadConfigNamesTheArgument) {
  const std::vector<AttnSlice> full = {{{0, 16}, {0, 16}, AttnMaskType::kFull}};
  const DispatchMeta d = solve_dispatch(full, 16, 4, 2, {});
  OverlapConfig o;
  o.degree = 9;
  o.max_num_chunks = 8;
  try {
    make_plan(full, d, o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("degree = 9"), std::string::npos) << e.what();
  }
  const std::vector<AttnSlice> outside = {{{0, 16}, {0, 17}, AttnMaskType::kFull}};
  EXPECT_THROW(make_plan(outside, d, OverlapConfig{}), Error);
  EXPECT_THROW(make_rank_plan(full, d, OverlapConfig{}, 2), Error);
}

TEST(Planner, ToJsonNamesEveryRank) {
  const std::vector<AttnSlice> causal = {{{0, 32}, {0, 32}, AttnMaskType::kCausal}};
  const Plan p = make_plan(causal, solve_dispatch(causal, 32, 4, 2, {}), OverlapConfig{});
  const std::string j = p.to_json(true);
  EXPECT_NE(j.find("\"rank\":0"), std::string::npos);
  EXPECT_NE(j.find("\"rank\":1"), std::string::npos);
  EXPECT_NE(j.find("\"causal\""), std::string::npos);
}

}  // namespace
}  // namespace magi
