// make_roll_plan: every rank's plan, run as a simulated all_to_all_v on global row ids, gives
// torch.roll of the global (padded) sequence.
#include <gtest/gtest.h>

#include <random>

#include "magi/check.h"
#include "magi/dispatch.h"
#include "magi/roll.h"
#include "testing/random_mask.h"

namespace magi {
namespace {

std::vector<int64_t> gather(const std::vector<int64_t>& src, const AttnRanges& rows) {
  std::vector<int64_t> out;
  for (const AttnRange& r : rows.items()) {
    for (int64_t i = r.start; i < r.end; ++i) out.push_back(src.at(i));
  }
  return out;
}

/// Runs the plans of all ranks on local buffers holding global row ids; checks that output
/// row j of rank r holds (position_ids(r)[j] - shift) mod total.
void check_roll(const DispatchMeta& d, int64_t shift) {
  const int64_t cp = d.cp_size, total = d.total_seqlen;
  std::vector<RollPlan> plans;
  std::vector<std::vector<int64_t>> send(cp);
  for (int64_t r = 0; r < cp; ++r) {
    plans.push_back(make_roll_plan(d, shift, r));
    send[r] = gather(d.position_ids(r), plans[r].send_rows);
    ASSERT_EQ(static_cast<int64_t>(send[r].size()), d.shard_seqlen(r));
  }
  for (int64_t r = 0; r < cp; ++r) {
    std::vector<int64_t> recv;
    for (int64_t src = 0; src < cp; ++src) {
      ASSERT_EQ(plans[src].send_counts[r], plans[r].recv_counts[src]) << src << " -> " << r;
      int64_t begin = 0;
      for (int64_t dst = 0; dst < r; ++dst) begin += plans[src].send_counts[dst];
      recv.insert(recv.end(), send[src].begin() + begin,
                  send[src].begin() + begin + plans[src].send_counts[r]);
    }
    const std::vector<int64_t> out = gather(recv, plans[r].out_rows);
    const std::vector<int64_t> ids = d.position_ids(r);
    ASSERT_EQ(out.size(), ids.size());
    for (size_t j = 0; j < ids.size(); ++j) {
      const int64_t want = (((ids[j] - shift) % total) + total) % total;
      ASSERT_EQ(out[j], want) << "rank " << r << " row " << j << " shift " << shift;
    }
  }
}

TEST(RollPlan, MatchesGlobalRollForRandomDispatches) {
  std::mt19937_64 rng(5);
  const int64_t cps[] = {1, 2, 3, 4, 8};
  for (int iter = 0; iter < 60; ++iter) {
    const int64_t cp = cps[iter % 5];
    const int64_t chunk = std::uniform_int_distribution<int64_t>(1, 5)(rng);
    const int64_t total = chunk * cp * std::uniform_int_distribution<int64_t>(1, 4)(rng);
    const auto slices = testing::random_slices(rng, total, total, 5);
    const DispatchAlgType algs[] = {DispatchAlgType::kMinHeap, DispatchAlgType::kSequential};
    const DispatchMeta d = solve_dispatch(slices, total, chunk, cp, {algs[iter % 2]});
    const int64_t r = std::uniform_int_distribution<int64_t>(-3 * total, 3 * total)(rng);
    for (int64_t shift :
         {int64_t{0}, int64_t{1}, int64_t{-1}, chunk, -chunk - 1, total, 3 * total + 2, r}) {
      check_roll(d, shift);
    }
  }
}

// Uneven shards: a short last chunk, ranks of different lengths, no padding to roll over.
TEST(RollPlan, MatchesGlobalRollForUnevenShards) {
  std::mt19937_64 rng(6);
  for (int iter = 0; iter < 60; ++iter) {
    const int64_t cp = std::uniform_int_distribution<int64_t>(1, 8)(rng);
    const int64_t chunk = std::uniform_int_distribution<int64_t>(1, 5)(rng);
    const int64_t total = cp * chunk + std::uniform_int_distribution<int64_t>(0, 23)(rng);
    const auto slices = testing::random_slices(rng, total, total, 5);
    const DispatchMeta d =
        solve_dispatch(slices, total, chunk, cp, {DispatchAlgType::kSequential}, true);
    const int64_t r = std::uniform_int_distribution<int64_t>(-3 * total, 3 * total)(rng);
    for (int64_t shift : {int64_t{0}, int64_t{1}, int64_t{-1}, chunk + 1, total - 1, r}) {
      check_roll(d, shift);
    }
  }
  // A hand case: 11 rows in chunks of 3 over 2 ranks, rank 0 holds 6 rows, rank 1 holds 5.
  const std::vector<AttnSlice> causal = {{{0, 11}, {0, 11}, AttnMaskType::kCausal}};
  const DispatchMeta d = solve_dispatch(causal, 11, 3, 2, {DispatchAlgType::kSequential}, true);
  EXPECT_EQ(d.shard_seqlens(), (std::vector<int64_t>{6, 5}));
  check_roll(d, -1);
}

TEST(RollPlan, ZeroShiftKeepsEveryRowAtHome) {
  const std::vector<AttnSlice> causal = {{{0, 16}, {0, 16}, AttnMaskType::kCausal}};
  const DispatchMeta d = solve_dispatch(causal, 16, 2, 2, {});
  for (int64_t r = 0; r < 2; ++r) {
    const RollPlan p = make_roll_plan(d, 0, r);
    EXPECT_EQ(p.send_rows, (AttnRanges{{0, 8}}));
    EXPECT_EQ(p.out_rows, (AttnRanges{{0, 8}}));
    EXPECT_EQ(p.send_counts[r], 8);
    EXPECT_EQ(p.send_counts[1 - r], 0);
    EXPECT_EQ(p.recv_counts, p.send_counts);
  }
  // A shift of the whole length is no shift.
  EXPECT_EQ(make_roll_plan(d, 16, 1), make_roll_plan(d, 0, 1));
  EXPECT_EQ(make_roll_plan(d, -35, 0), make_roll_plan(d, -3, 0));
}

TEST(RollPlan, RejectsABadRank) {
  const std::vector<AttnSlice> full = {{{0, 8}, {0, 8}, AttnMaskType::kFull}};
  const DispatchMeta d = solve_dispatch(full, 8, 2, 2, {});
  EXPECT_THROW(make_roll_plan(d, 1, 2), Error);
  EXPECT_THROW(make_roll_plan(d, 1, -1), Error);
}

}  // namespace
}  // namespace magi
