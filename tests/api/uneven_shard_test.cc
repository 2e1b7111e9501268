// Uneven shards (DispatchConfig::uneven_shard) end to end on simulated ranks: no padding, ranks of
// different lengths; dispatch -> calc_attn fwd/bwd -> undispatch against dense float64 attention,
// roll against a global roll, and the errors for layouts that would leave a rank empty.
#include <gtest/gtest.h>

#include <cmath>
#include <mutex>
#include <random>
#include <string>

#include "magi/check.h"
#include "magi/dist_attn.h"
#include "testing/dense_attention.h"
#include "testing/dist_run.h"
#include "testing/expect_error.h"
#include "testing/host_tensor.h"
#include "testing/random_mask.h"
#include "testing/rel_err.h"
#include "testing/seed.h"

namespace magi {
namespace {

using testing::CaseSpec;
using testing::check_against_dense;
using testing::expect_error;
using testing::HostTensor;

using testing::rel_err;

DistAttnConfig uneven_config(DispatchAlgType alg) {
  DistAttnConfig c;
  c.dispatch_config.uneven_shard = true;
  c.dispatch_config.alg.type = alg;
  return c;
}

// The local lengths: no padding, the ranks' rows add up to the total, and they differ.
TEST(UnevenShard, LocalLengthsAddUpWithoutPadding) {
  const std::vector<AttnSlice> causal = {{{0, 37}, {0, 37}, AttnMaskType::kCausal}};
  std::vector<int64_t> lengths(3);
  std::mutex mu;
  run_local_ranks(3, [&](Communicator& comm) {
    // 37 rows in chunks of 5: 8 chunks (the last 2 rows), 3, 3 and 2 chunks per rank.
    const auto rt = make_flex_key(causal, 37, 37, 0, 0, 0, comm,
                                  uneven_config(DispatchAlgType::kSequential), 5);
    EXPECT_EQ(rt->key().pad_size, 0);
    EXPECT_EQ(rt->padded_seqlen(), 37);
    EXPECT_EQ(rt->dispatch_meta().num_chunks(), 8);
    EXPECT_EQ(static_cast<int64_t>(rt->position_ids().size()), rt->shard_seqlen());
    std::lock_guard lock(mu);
    lengths[comm.rank()] = rt->shard_seqlen();
  });
  EXPECT_EQ(lengths, (std::vector<int64_t>{15, 15, 7}));
  clear_key_cache();
}

TEST(UnevenShard, MatchesDenseReferenceOnRandomMasks) {
  std::mt19937_64 rng(testing::seed(99));
  int64_t unequal = 0;
  for (int iter = 0; iter < 120; ++iter) {
    CaseSpec s;
    s.cp = 1 + iter % 8;
    s.chunk = std::uniform_int_distribution<int64_t>(1, 5)(rng);
    // At least cp chunks; lengths that are rarely multiples of the chunk or of cp.
    s.total = std::uniform_int_distribution<int64_t>(s.cp * s.chunk, s.cp * s.chunk + 30)(rng);
    s.slices = rng() % 2 ? testing::random_slices(rng, s.total, s.total, 6)
                         : testing::random_varlen_slices(rng, s.total, 5);
    s.hkv = 1 + static_cast<int64_t>(rng() % 2);
    s.hq = s.hkv * (1 + static_cast<int64_t>(rng() % 2));
    // Sequential always places every chunk; MinHeap may leave a rank empty on masks with many
    // zero-cost chunks (that error has its own test), so it runs on the full-coverage masks.
    const bool heap = iter % 3 == 0;
    if (heap) s.slices = {{{0, s.total}, {0, s.total}, AttnMaskType::kCausal}};
    s.config = uneven_config(heap ? DispatchAlgType::kMinHeap : DispatchAlgType::kSequential);
    const int64_t deg = testing::random_stages(rng, s.config.overlap_config);
    unequal += s.total % s.chunk != 0 || (s.total + s.chunk - 1) / s.chunk % s.cp != 0;
    SCOPED_TRACE("iteration " + std::to_string(iter) + ": cp " + std::to_string(s.cp) + ", total " +
                 std::to_string(s.total) + ", chunk " + std::to_string(s.chunk) + ", degree " +
                 std::to_string(deg) + (heap ? ", min_heap" : ", sequential"));
    check_against_dense(s, rng, 1e-10);
    if (HasFailure()) return;
  }
  EXPECT_GT(unequal, 60);  // most cases have a short chunk or unequal chunk counts
  clear_key_cache();
}

TEST(UnevenShard, AllFourMaskTypesAtEveryCpSize) {
  std::mt19937_64 rng(testing::seed(6));
  for (int t = 0; t < 4; ++t) {
    for (int64_t cp = 1; cp <= 8; ++cp) {
      CaseSpec s;
      s.cp = cp;
      s.total = 37;  // chunks of 3: 13 chunks, the last one row
      s.chunk = 3;
      s.hq = 4;
      s.hkv = 2;
      s.config = uneven_config(DispatchAlgType::kSequential);
      const auto type = static_cast<AttnMaskType>(t);
      s.slices = {{{0, 20}, {0, 25}, type}, {{20, 37}, {5, 37}, type}, {{10, 30}, {0, 12}, type}};
      SCOPED_TRACE(std::string(to_string(type)) + " cp " + std::to_string(cp));
      check_against_dense(s, rng, 1e-10);
    }
  }
  clear_key_cache();
}

TEST(UnevenShard, RollIsAGlobalRollOverTheUnpaddedLength) {
  const std::vector<AttnSlice> causal = {{{0, 50}, {0, 50}, AttnMaskType::kCausal}};
  for (int64_t cp : {1, 2, 3, 5, 8}) {
    run_local_ranks(cp, [&](Communicator& comm) {
      const auto rt =
          make_flex_key(causal, 50, 50, 0, 0, 0, comm, uneven_config(DispatchAlgType::kMinHeap), 4);
      const int64_t shard = rt->shard_seqlen();
      const std::vector<int64_t> ids = rt->position_ids();
      HostTensor x(DType::kFloat64, {shard, 2}), out(DType::kFloat64, {shard, 2});
      std::vector<double> values;
      for (int64_t id : ids) {
        for (int c = 0; c < 2; ++c) values.push_back(static_cast<double>(id * 10 + c));
      }
      x.set(values);
      for (int64_t shift : {int64_t{1}, int64_t{-1}, int64_t{7}, int64_t{-29}, int64_t{53}}) {
        out.fill(-1);
        roll(*rt, comm, x.view(), shift, out.view());
        const std::vector<double> got = out.get();
        for (int64_t j = 0; j < shard; ++j) {
          const int64_t src = (((ids[j] - shift) % 50) + 50) % 50;
          for (int c = 0; c < 2; ++c) {
            ASSERT_EQ(got[j * 2 + c], static_cast<double>(src * 10 + c))
                << "cp " << cp << " shift " << shift << " row " << j;
          }
        }
      }
    });
  }
  clear_key_cache();
}

TEST(UnevenShard, LayoutsWithAnEmptyRankAreErrors) {
  const std::vector<AttnSlice> causal = {{{0, 3}, {0, 3}, AttnMaskType::kCausal}};
  const std::vector<AttnSlice> empty_tail = {{{0, 1}, {0, 1}, AttnMaskType::kFull}};
  run_local_ranks(4, [&](Communicator& comm) {
    // 3 rows over 4 ranks: one rank would hold no token.
    expect_error(
        [&] {
          make_flex_key(causal, 3, 3, 0, 0, 0, comm, uneven_config(DispatchAlgType::kMinHeap));
        },
        "total_seqlen = 3");
    // MinHeap piles the zero-cost chunks of rows 1..4 onto the low ranks: rank 3 gets none.
    expect_error(
        [&] {
          make_flex_key(empty_tail, 5, 5, 0, 0, 0, comm, uneven_config(DispatchAlgType::kMinHeap),
                        1);
        },
        "rank 3 without a chunk");
    // The equal-count solvers are refused by name.
    expect_error(
        [&] {
          make_flex_key(causal, 3, 3, 0, 0, 0, comm, uneven_config(DispatchAlgType::kToppHeap));
        },
        "topp_heap");
  });
  clear_key_cache();
}

// A new-mask key over an uneven dispatch keeps its layout (lengths, partition, no padding) and
// plans only the new mask on it.
TEST(UnevenShard, NewMaskKeysKeepTheUnevenLayout) {
  const std::vector<AttnSlice> causal = {{{0, 45}, {0, 45}, AttnMaskType::kCausal}};
  const std::vector<AttnSlice> window = {{{0, 45}, {0, 45}, AttnMaskType::kBiCausal},
                                         {{10, 45}, {0, 10}, AttnMaskType::kFull}};
  run_local_ranks(3, [&](Communicator& comm) {
    const auto ref =
        make_flex_key(causal, 45, 45, 0, 0, 0, comm, uneven_config(DispatchAlgType::kMinHeap), 4);
    const auto nk = make_flex_key_for_new_mask_after_dispatch(window, *ref, comm);
    EXPECT_EQ(nk->dispatch_meta(), ref->dispatch_meta());
    EXPECT_EQ(nk->shard_seqlen(), ref->shard_seqlen());
    EXPECT_EQ(nk->key().pad_size, 0);
    EXPECT_EQ(nk->plan(), make_rank_plan(window, ref->dispatch_meta(),
                                         ref->key().config.overlap_config, comm.rank()));
  });
  clear_key_cache();
}

// The uneven key is another key than the padded one over the same mask (and so another layout).
TEST(UnevenShard, IsPartOfTheKey) {
  const std::vector<AttnSlice> causal = {{{0, 30}, {0, 30}, AttnMaskType::kCausal}};
  run_local_ranks(4, [&](Communicator& comm) {
    const auto even = make_flex_key(causal, 30, 30, 0, 0, 0, comm, {}, 4);
    const auto uneven =
        make_flex_key(causal, 30, 30, 0, 0, 0, comm, uneven_config(DispatchAlgType::kMinHeap), 4);
    EXPECT_NE(even.get(), uneven.get());
    EXPECT_EQ(even->key().pad_size, 2);
    EXPECT_EQ(uneven->key().pad_size, 0);
    EXPECT_NE(even->key().hash(), uneven->key().hash());
  });
  clear_key_cache();
}

}  // namespace
}  // namespace magi
