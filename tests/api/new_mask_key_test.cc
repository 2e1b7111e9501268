// make_flex_key_for_new_mask_after_dispatch and roll on simulated ranks: the new key keeps the
// reference key's dispatch and plans only its own mask; roll moves rows across ranks as
// torch.roll of the padded global sequence.
#include <gtest/gtest.h>

#include <string>

#include "magi/check.h"
#include "magi/dist_attn.h"
#include "magi/roll.h"
#include "testing/expect_error.h"
#include "testing/host_tensor.h"

namespace magi {
namespace {

using testing::expect_error;
using testing::HostTensor;

const std::vector<AttnSlice> kCausal = {{{0, 50}, {0, 50}, AttnMaskType::kCausal}};
// Imbalanced on purpose: a dispatch solved for it would differ from the causal one.
const std::vector<AttnSlice> kHybrid = {{{0, 20}, {0, 20}, AttnMaskType::kFull},
                                        {{20, 50}, {10, 50}, AttnMaskType::kBiCausal},
                                        {{40, 50}, {0, 5}, AttnMaskType::kInvCausal}};

TEST(NewMaskKey, ReusesTheDispatchAndPlansTheNewMask) {
  clear_key_cache();
  for (int64_t cp : {1, 2, 4}) {
    run_local_ranks(cp, [&](Communicator& comm) {
      const auto ref = make_flex_key(kCausal, 50, 50, 4, 2, 8, comm, {}, 4);
      OverlapConfig overlap;
      overlap.degree = 2;
      overlap.min_chunk_size = 3;
      const auto nk = make_flex_key_for_new_mask_after_dispatch(
          kHybrid, *ref, comm, std::nullopt, std::nullopt, std::nullopt, overlap);
      EXPECT_EQ(nk->dispatch_meta(), ref->dispatch_meta());
      EXPECT_EQ(nk->key().pad_size, ref->key().pad_size);
      EXPECT_EQ(nk->key().num_heads_q, 4);  // inherited
      EXPECT_EQ(nk->key().head_dim, 8);
      EXPECT_EQ(nk->key().config.overlap_config, overlap);
      EXPECT_EQ(nk->key().config.dispatch_config, ref->key().config.dispatch_config);
      EXPECT_EQ(nk->plan(), make_rank_plan(kHybrid, ref->dispatch_meta(), overlap, comm.rank()));
      // Cached: the same call returns the same runtime; other heads make another key.
      EXPECT_EQ(make_flex_key_for_new_mask_after_dispatch(kHybrid, *ref, comm, std::nullopt,
                                                          std::nullopt, std::nullopt, overlap)
                    .get(),
                nk.get());
      const auto heads = make_flex_key_for_new_mask_after_dispatch(kHybrid, *ref, comm, 2, 2, 8);
      EXPECT_NE(heads.get(), nk.get());
      EXPECT_EQ(heads->key().num_heads_q, 2);
      // The same mask with its own dispatch is another key (reused_partitions differ).
      const auto own = make_flex_key(kHybrid, 50, 50, 4, 2, 8, comm, {}, 4);
      EXPECT_NE(own.get(), nk.get());
      // A new-mask key of a new-mask key still holds the first dispatch (and the overlap
      // config of the key it was made from).
      const auto chained = make_flex_key_for_new_mask_after_dispatch(kCausal, *nk, comm);
      EXPECT_EQ(chained->dispatch_meta(), ref->dispatch_meta());
      EXPECT_EQ(chained->plan(),
                make_rank_plan(kCausal, ref->dispatch_meta(), overlap, comm.rank()));
    });
  }
  clear_key_cache();
}

TEST(NewMaskKey, KeepsTheHierarchicalMeshOfTheKeyItReuses) {
  clear_key_cache();
  run_local_ranks(4, [&](Communicator& comm) {
    DistAttnConfig config;
    config.hier_mesh = CommMesh{2, 2};
    const auto ref = make_flex_key(kCausal, 50, 50, 4, 2, 8, comm, config, 4);
    const auto nk = make_flex_key_for_new_mask_after_dispatch(kHybrid, *ref, comm);
    EXPECT_EQ(nk->key().config.hier_mesh, config.hier_mesh);
    ASSERT_NE(nk->hier_plan(), nullptr);
    const Plan all = make_plan(kHybrid, ref->dispatch_meta(), config.overlap_config);
    EXPECT_EQ(nk->plan().ranks, std::vector<RankPlan>{all.ranks[comm.rank()]});
    EXPECT_EQ(nk->hier_plan()->ranks.front(),
              make_hier_plan(all, *config.hier_mesh).ranks[comm.rank()]);
  });
  clear_key_cache();
}

TEST(NewMaskKey, BadInputsNameTheArgument) {
  run_local_ranks(2, [&](Communicator& comm) {
    const auto ref = make_flex_key(kCausal, 50, 50, 0, 0, 0, comm, {}, 4);
    const std::vector<AttnSlice> too_long = {{{0, 51}, {0, 50}, AttnMaskType::kFull}};
    expect_error([&] { make_flex_key_for_new_mask_after_dispatch(too_long, *ref, comm); }, "51");
    expect_error([&] { make_flex_key_for_new_mask_after_dispatch(kHybrid, *ref, comm, 4); },
                 "num_heads_kv = 0");
    expect_error([&] { make_flex_key_for_new_mask_after_dispatch(kHybrid, *ref, comm, 3, 2, 8); },
                 "num_heads_q = 3");
  });
  clear_key_cache();
}

TEST(Roll, MovesRowsAcrossRanksAsAGlobalRoll) {
  // 50 rows, chunk 4: padded to 56 on 2 ranks, 64 on 4 and 8.
  for (int64_t cp : {1, 2, 4, 8}) {
    run_local_ranks(cp, [&](Communicator& comm) {
      const auto rt = make_flex_key(kHybrid, 50, 50, 0, 0, 0, comm, {}, 4);
      const int64_t shard = rt->shard_seqlen(), total = rt->padded_seqlen();
      const std::vector<int64_t> ids = rt->position_ids();
      HostTensor x(DType::kFloat64, {shard, 3}), out(DType::kFloat64, {shard, 3});
      std::vector<double> values;
      for (int64_t id : ids) {
        for (int c = 0; c < 3; ++c) values.push_back(static_cast<double>(id * 10 + c));
      }
      x.set(values);
      for (int64_t shift : {int64_t{1}, int64_t{-1}, int64_t{5}, int64_t{-29}, total + 3}) {
        out.fill(-1);
        roll(*rt, comm, x.view(), shift, out.view());
        const std::vector<double> got = out.get();
        for (int64_t j = 0; j < shard; ++j) {
          const int64_t src = (((ids[j] - shift) % total) + total) % total;
          for (int c = 0; c < 3; ++c) {
            ASSERT_EQ(got[j * 3 + c], static_cast<double>(src * 10 + c))
                << "cp " << cp << " shift " << shift << " row " << j;
          }
        }
      }
      HostTensor wrong(DType::kFloat64, {shard + 1, 3});
      EXPECT_THROW(roll(*rt, comm, wrong.view(), 1, out.view()), Error);
    });
  }
  clear_key_cache();
}

}  // namespace
}  // namespace magi
