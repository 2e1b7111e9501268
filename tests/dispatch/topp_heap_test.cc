#include <gtest/gtest.h>

#include <random>
#include <string>

#include "dispatch/chunked_mask.h"
#include "dispatch/solver_testing.h"
#include "dispatch/solvers.h"
#include "magi/check.h"
#include "testing/random_mask.h"

namespace magi {
namespace {

using dispatch::Buckets;

TEST(ToppHeap, ZeroTopPIsMinHeap) {
  std::mt19937_64 rng(51);
  for (int iter = 0; iter < 1000; ++iter) {
    const int64_t k = std::uniform_int_distribution<int64_t>(1, 16)(rng);
    const int64_t n = k * std::uniform_int_distribution<int64_t>(1, 6)(rng);
    const auto costs = testing::random_costs(rng, n);
    std::vector<AttnRanges> ks(static_cast<size_t>(n));
    for (auto& r : ks) r = AttnRanges{testing::random_range(rng, 50)}.merged();
    ASSERT_EQ(dispatch::solve_topp_heap(costs, ks, k, 0.0), dispatch::solve_min_heap(costs, k))
        << iter;
  }
}

TEST(ToppHeap, ChunksSharingKeysGoTogether) {
  const std::vector<int64_t> costs = {5, 5, 5, 5};
  const std::vector<AttnRanges> ks = {{{0, 10}}, {{0, 10}}, {{100, 110}}, {{100, 110}}};
  // Jobs 3, 2, 1, 0. With affinity, 2 joins 3 (both read [100, 110)) though bucket 1 is
  // emptier; MinHeap alternates.
  EXPECT_EQ(dispatch::solve_topp_heap(costs, ks, 2, 1.0), (Buckets{{3, 2}, {1, 0}}));
  EXPECT_EQ(dispatch::solve_topp_heap(costs, ks, 2, 0.0), (Buckets{{3, 1}, {2, 0}}));
}

TEST(ToppHeap, OnlyTheTopPLeastLoadedAreCandidates) {
  // Four jobs open the four buckets (loads 10, 9, 8, 7); job 4 reads the keys of bucket 0,
  // the most loaded. m = ceil(4 * top_p) decides whether bucket 0 is a candidate.
  const std::vector<int64_t> costs = {10, 9, 8, 7, 1, 0, 0, 0};
  const std::vector<AttnRanges> ks = {{{0, 10}}, {{20, 30}}, {{40, 50}}, {{60, 70}},
                                      {{0, 10}}, {},         {},         {}};
  const auto bucket_of_4 = [&](double top_p) {
    const Buckets b = dispatch::solve_topp_heap(costs, ks, 4, top_p);
    for (size_t r = 0; r < b.size(); ++r)
      for (int64_t c : b[r])
        if (c == 4) return static_cast<int64_t>(r);
    return int64_t{-1};
  };
  EXPECT_EQ(bucket_of_4(1.0), 0);
  EXPECT_EQ(bucket_of_4(0.75), 3);  // m = 3: buckets 3, 2, 1; no overlap -> least loaded
  EXPECT_EQ(bucket_of_4(0.5), 3);
  EXPECT_EQ(bucket_of_4(0.25), 3);  // m = 1 exactly (no rounding up past 1)
}

TEST(ToppHeap, BadTopPIsNamed) {
  const std::vector<int64_t> costs = {1, 2};
  const std::vector<AttnRanges> ks(2);
  try {
    dispatch::solve_topp_heap(costs, ks, 2, 1.5);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("top_p = 1.5"), std::string::npos) << e.what();
  }
}

// A chunk's k ranges are exactly the columns holding a cell in its rows.
TEST(ChunkKRanges, MatchDenseColumnsOnRandomMasks) {
  std::mt19937_64 rng(52);
  for (int iter = 0; iter < 1500; ++iter) {
    const int64_t total = std::uniform_int_distribution<int64_t>(1, 30)(rng);
    const int64_t cs = std::uniform_int_distribution<int64_t>(1, 9)(rng);
    const auto slices = testing::random_slices(rng, total, total, 7);
    const auto dense = testing::dense_mask(slices, total, total);
    const auto got = dispatch::chunk_k_ranges(dispatch::cut_into_chunks(slices, total, cs));
    ASSERT_EQ(got.size(), static_cast<size_t>((total + cs - 1) / cs));
    for (size_t c = 0; c < got.size(); ++c) {
      AttnRanges want;
      for (int64_t k = 0; k < total; ++k) {
        bool any = false;
        for (int64_t q = c * cs; q < std::min<int64_t>((c + 1) * cs, total); ++q)
          any = any || dense[q * total + k];
        if (any) want.push_back({k, k + 1});
      }
      ASSERT_EQ(got[c], want.merged()) << "iteration " << iter << " chunk " << c;
    }
  }
}

}  // namespace
}  // namespace magi
