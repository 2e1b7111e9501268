#include <gtest/gtest.h>

#include <random>

#include "magi/check.h"
#include "magi/dispatch.h"
#include "magi/plan.h"
#include "testing/expect_error.h"
#include "testing/random_mask.h"

namespace magi {
namespace {

DispatchMeta hand_meta() {
  DispatchMeta m;
  m.total_seqlen = 16;
  m.chunk_size = 2;
  m.cp_size = 2;
  m.costs = {1, 2, 3, 4, 5, 6, 7, 8};
  m.partitions = {{0, 1, 5, 7}, {2, 3, 4, 6}};
  m.perm = {0, 1, 5, 7, 2, 3, 4, 6};
  m.unperm = {0, 1, 4, 5, 6, 2, 7, 3};
  return m;
}

TEST(DispatchMeta, HandCase) {
  const DispatchMeta m = hand_meta();
  EXPECT_EQ(m.host_ranges(0), (AttnRanges{{0, 4}, {10, 12}, {14, 16}}));
  EXPECT_EQ(m.host_ranges(1), (AttnRanges{{4, 10}, {12, 14}}));
  EXPECT_EQ(m.position_ids(1), (std::vector<int64_t>{4, 5, 6, 7, 8, 9, 12, 13}));
  EXPECT_EQ(m.owner(0), 0);
  EXPECT_EQ(m.owner(11), 0);
  EXPECT_EQ(m.owner(12), 1);
  EXPECT_EQ(m.owner(15), 0);
  EXPECT_EQ(m.rank_costs(), (std::vector<int64_t>{1 + 2 + 6 + 8, 3 + 4 + 5 + 7}));
  EXPECT_EQ(m.shard_seqlen(0), 8);
  EXPECT_EQ(m.shard_seqlens(), (std::vector<int64_t>{8, 8}));
  EXPECT_EQ(m.chunk_rows(7), (AttnRange{14, 16}));
  EXPECT_THROW(m.chunk_rows(8), Error);
  EXPECT_THROW(m.shard_seqlen(2), Error);
  EXPECT_THROW(m.owner(16), Error);
  EXPECT_THROW(m.owner(-1), Error);
  EXPECT_THROW(m.host_ranges(2), Error);
  EXPECT_THROW(m.position_ids(-1), Error);
}

// Uneven shards: 11 rows in chunks of 3 (the last one 2 rows) over 2 ranks with 3 and 1 chunks.
TEST(DispatchMeta, UnevenHandCase) {
  DispatchMeta m;
  m.total_seqlen = 11;
  m.chunk_size = 3;
  m.cp_size = 2;
  m.costs = {1, 2, 3, 4};
  m.partitions = {{0, 1, 3}, {2}};
  m.perm = {0, 1, 3, 2};
  m.unperm = {0, 1, 3, 2};
  EXPECT_EQ(m.chunk_rows(3), (AttnRange{9, 11}));
  EXPECT_EQ(m.shard_seqlens(), (std::vector<int64_t>{8, 3}));
  EXPECT_EQ(m.host_ranges(0), (AttnRanges{{0, 6}, {9, 11}}));
  EXPECT_EQ(m.position_ids(0), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 9, 10}));
  EXPECT_EQ(m.position_ids(1), (std::vector<int64_t>{6, 7, 8}));
  EXPECT_EQ(m.owner(8), 1);
  EXPECT_EQ(m.owner(9), 0);
  EXPECT_EQ(m.owner(10), 0);
  EXPECT_THROW(m.owner(11), Error);
}

// The three views of "who holds which row" agree on random dispatches.
TEST(DispatchMeta, PositionIdsHostRangesAndOwnerAgree) {
  std::mt19937_64 rng(81);
  const DispatchAlgType types[] = {DispatchAlgType::kMinHeap, DispatchAlgType::kSequential,
                                   DispatchAlgType::kSortedSequentialSelect,
                                   DispatchAlgType::kToppHeap};
  for (int iter = 0; iter < 800; ++iter) {
    const int64_t cp = std::uniform_int_distribution<int64_t>(1, 8)(rng);
    const int64_t cs = std::uniform_int_distribution<int64_t>(1, 5)(rng);
    // Every third case has uneven shards: any length with at least cp chunks, sequential.
    const bool uneven = iter % 3 == 0;
    const int64_t total = uneven ? cs * cp + std::uniform_int_distribution<int64_t>(0, 13)(rng)
                                 : cs * cp * std::uniform_int_distribution<int64_t>(1, 4)(rng);
    const auto slices = testing::random_varlen_slices(rng, total, 5);
    const DispatchAlg alg{uneven ? DispatchAlgType::kSequential : types[iter % 4], 0.5, 1.0};
    const DispatchMeta m = solve_dispatch(slices, total, cs, cp, alg, uneven);
    std::vector<int> seen(static_cast<size_t>(total), 0);
    std::vector<int64_t> gathered;
    for (int64_t r = 0; r < cp; ++r) {
      const auto ids = m.position_ids(r);
      ASSERT_EQ(static_cast<int64_t>(ids.size()), m.shard_seqlen(r));
      ASSERT_TRUE(std::is_sorted(ids.begin(), ids.end()));
      // host_ranges, expanded in order, are exactly the local rows.
      const AttnRanges hr = m.host_ranges(r);
      ASSERT_TRUE(hr.is_merged());
      std::vector<int64_t> expanded;
      for (const AttnRange& x : hr)
        for (int64_t t = x.start; t < x.end; ++t) expanded.push_back(t);
      ASSERT_EQ(expanded, ids);
      for (int64_t t : ids) {
        ASSERT_EQ(m.owner(t), r) << "token " << t;
        ++seen[t];
      }
      gathered.insert(gathered.end(), ids.begin(), ids.end());
    }
    for (int x : seen) ASSERT_EQ(x, 1);
    // The gathered order is perm, chunk by chunk.
    size_t at = 0;
    for (int64_t c : m.perm) {
      for (int64_t t = m.chunk_rows(c).start; t < m.chunk_rows(c).end; ++t) {
        ASSERT_EQ(gathered.at(at++), t);
      }
    }
    ASSERT_EQ(at, gathered.size());
  }
}

// A DispatchMeta built or edited by hand is checked before the planner reads it (a partition
// dropped read past the end; a zero chunk size divided by zero).
TEST(DispatchMeta, ValidateRefusesLayoutsNoSolverMakes) {
  const std::vector<AttnSlice> s = {{{0, 32}, {0, 32}, AttnMaskType::kCausal}};
  const DispatchMeta good = solve_dispatch(s, 32, 4, 2, {});
  EXPECT_NO_THROW(good.validate());
  DispatchMeta m = good;
  m.partitions.pop_back();
  testing::expect_error([&] { make_plan(s, m, {}); }, "1 partitions for cp_size = 2");
  m = good;
  m.partitions[1][0] = m.partitions[0][0];
  testing::expect_error([&] { m.validate(); }, "is in two partitions");
  m = good;
  std::swap(m.perm[0], m.perm[1]);
  testing::expect_error([&] { m.validate(); }, "perm / unperm disagree");
  m = good;
  m.chunk_size = 0;
  testing::expect_error([&] { m.validate(); }, "chunk_size = 0");
  testing::expect_error([&] { static_cast<void>(m.owner(3)); }, "chunk_size = 0");
}

}  // namespace
}  // namespace magi
