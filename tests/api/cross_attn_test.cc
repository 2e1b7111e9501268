// Cross-attention end to end on simulated ranks: q and K/V of different lengths, dispatched
// separately (dispatch / dispatch_kv), calc_attn forward and backward, undispatch /
// undispatch_kv, against dense float64 attention over the materialised (Sq x Sk) mask; also
// with uneven shards (both sides unpadded and uneven) and the hierarchical exchange.
#include <gtest/gtest.h>

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
using testing::Result;

using testing::rel_err;

// Packed documents whose q and k lengths differ per document (encoder-decoder batches).
std::vector<AttnSlice> random_cross_varlen(std::mt19937_64& rng, int64_t& sq, int64_t& sk) {
  const int docs = 1 + static_cast<int>(rng() % 4);
  std::vector<int64_t> cu_q{0}, cu_k{0};
  for (int i = 0; i < docs; ++i) {
    cu_q.push_back(cu_q.back() + 1 + static_cast<int64_t>(rng() % 12));
    cu_k.push_back(cu_k.back() + 1 + static_cast<int64_t>(rng() % 12));
  }
  sq = cu_q.back();
  sk = cu_k.back();
  return varlen_slices(cu_q, cu_k, rng() % 2 == 0);
}

TEST(CrossAttn, MatchesDenseReferenceOnRandomMasksAndConfigs) {
  std::mt19937_64 rng(testing::seed(1414));
  const int64_t cps[] = {1, 2, 3, 4, 8};
  for (int iter = 0; iter < 120; ++iter) {
    CaseSpec s;
    s.cp = cps[iter % 5];
    s.chunk = std::uniform_int_distribution<int64_t>(1, 4)(rng);
    if (rng() % 2) {
      s.total = std::uniform_int_distribution<int64_t>(1, 40)(rng);
      s.total_kv = std::uniform_int_distribution<int64_t>(1, 40)(rng);
      s.slices = testing::random_slices(rng, s.total, s.total_kv, 6);
    } else {
      s.slices = random_cross_varlen(rng, s.total, s.total_kv);
    }
    s.hkv = 1 + static_cast<int64_t>(rng() % 2);
    s.hq = s.hkv * (1 + static_cast<int64_t>(rng() % 2));
    s.dtype = iter % 4 == 3 ? DType::kFloat32 : DType::kFloat64;
    const int64_t deg = testing::random_stages(rng, s.config.overlap_config);
    if (rng() % 3 == 0) {
      s.opts.softmax_scale = 0.7;
      s.opts.softcap = 2.0;
    }
    // The exact solver only takes small inputs (<= 20 chunks), on either side.
    auto padded_chunks = [&](int64_t total, int64_t chunk) {
      return (total + chunk * s.cp - 1) / (chunk * s.cp) * s.cp;
    };
    const int64_t chunk_kv = kv_chunk_size(s.chunk, s.total_kv, s.cp);
    const bool small =
        padded_chunks(s.total, s.chunk) <= 20 && padded_chunks(s.total_kv, chunk_kv) <= 20;
    s.config.dispatch_config.alg.type = static_cast<DispatchAlgType>(rng() % (small ? 5 : 4));
    s.config.dispatch_config.alg.top_p = 0.5;
    SCOPED_TRACE("iteration " + std::to_string(iter) + ": cp " + std::to_string(s.cp) + ", q " +
                 std::to_string(s.total) + ", kv " + std::to_string(s.total_kv) + ", chunk " +
                 std::to_string(s.chunk) + ", degree " + std::to_string(deg) + ", " +
                 std::string(to_string(s.dtype)));
    check_against_dense(s, rng, s.dtype == DType::kFloat64 ? 1e-10 : 1e-5);
    if (HasFailure()) return;
  }
}

TEST(CrossAttn, NamedMasksWithQLongerAndShorterThanKv) {
  std::mt19937_64 rng(testing::seed(3));
  struct Named {
    const char* name;
    int64_t sq, sk;
    std::vector<AttnSlice> slices;
  };
  const Named masks[] = {
      {"full, q longer", 37, 13, {{{0, 37}, {0, 13}, AttnMaskType::kFull}}},
      {"full, q shorter", 11, 45, {{{0, 11}, {0, 45}, AttnMaskType::kFull}}},
      {"causal-like slices",
       30,
       21,
       {{{0, 10}, {0, 7}, AttnMaskType::kCausal},
        {{10, 30}, {0, 21}, AttnMaskType::kCausal},
        {{5, 25}, {3, 9}, AttnMaskType::kBiCausal}}},
      {"inv_causal, q shorter", 9, 33, {{{0, 9}, {4, 33}, AttnMaskType::kInvCausal}}},
      {"varlen", 29, 40,
       varlen_slices(std::vector<int64_t>{0, 7, 20, 29}, std::vector<int64_t>{0, 15, 18, 40},
                     false)},
      {"rows and keys without cells",
       24,
       30,
       {{{4, 12}, {10, 20}, AttnMaskType::kFull}, {{16, 20}, {0, 3}, AttnMaskType::kCausal}}},
  };
  for (const Named& m : masks) {
    for (int64_t cp : {1, 2, 3, 4, 8}) {
      CaseSpec s;
      s.cp = cp;
      s.total = m.sq;
      s.total_kv = m.sk;
      s.slices = m.slices;
      s.chunk = 2;
      s.hq = 4;
      s.hkv = 2;
      s.calls = 2;            // a cached runtime serves a second call
      s.dv = cp % 2 ? 0 : 5;  // at even cp, v's head dim apart from q / k's 8 (MLA-like)
      SCOPED_TRACE(std::string(m.name) + " cp " + std::to_string(cp) + " dv " +
                   std::to_string(s.vd()));
      check_against_dense(s, rng, 1e-10);
    }
  }
}

TEST(CrossAttn, KeysDispatchKvOnItsOwnAndCheckShapes) {
  const std::vector<AttnSlice> full = {{{0, 20}, {0, 6}, AttnMaskType::kFull}};
  run_local_ranks(2, [&](Communicator& comm) {
    expect_error([&] { make_flex_key(full, 20, 6, 2, 2, 8, comm, {}, 4); }, "is_same_source");
    const auto rt = make_flex_key(full, 20, 6, 2, 2, 8, comm, {}, 4, false);
    EXPECT_FALSE(rt->key().is_same_source);
    // q: 20 rows in chunks of 4 (pad 4); K/V: 6 rows in chunks of min(4, ceil(6 / 16)) = 1.
    EXPECT_EQ(rt->padded_seqlen(), 24);
    EXPECT_EQ(rt->key().chunk_size_kv, 1);
    EXPECT_EQ(rt->padded_seqlen_kv(), 6);
    EXPECT_EQ(rt->shard_seqlen_kv(), 3);
    EXPECT_EQ(make_flex_key(full, 20, 6, 2, 2, 8, comm, {}, 4, false), rt);  // cached
    // K/V rows of both ranks, in global order, are exactly the 6 K/V tokens.
    std::vector<int64_t> ids = rt->position_ids_kv();
    EXPECT_EQ(ids, rt->dispatch_meta_kv().position_ids(comm.rank()));

    const int64_t n = rt->shard_seqlen(), nk = rt->shard_seqlen_kv();
    HostTensor q(DType::kFloat64, {n, 2, 8}), k(DType::kFloat64, {nk, 2, 8}),
        k_as_q(DType::kFloat64, {n, 2, 8}), o(DType::kFloat64, {n, 2, 8}),
        l(DType::kFloat64, {n, 2});
    expect_error(
        [&] {
          calc_attn(*rt, comm, q.view(), k_as_q.view(), k_as_q.view(), {}, o.view(), l.view());
        },
        "k = ");
    HostTensor kg(DType::kFloat64, {6, 2, 8}), qg(DType::kFloat64, {20, 2, 8});
    expect_error([&] { dispatch_kv(*rt, qg.view(), k.view()); }, "dispatch_kv: x = ");
    expect_error([&] { dispatch(*rt, kg.view(), q.view()); }, "dispatch: x = ");
    // Round trip of a K/V-side tensor.
    std::vector<double> vals(6 * 2 * 8);
    for (size_t i = 0; i < vals.size(); ++i) vals[i] = static_cast<double>(i);
    kg.set(vals);
    dispatch_kv(*rt, kg.view(), k.view());
    HostTensor back(DType::kFloat64, {6, 2, 8});
    undispatch_kv(*rt, comm, k.view(), back.view());
    EXPECT_EQ(back.get(), vals);
  });
}

TEST(CrossAttn, NewMaskAfterDispatchReusesBothDispatches) {
  const std::vector<AttnSlice> full = {{{0, 20}, {0, 12}, AttnMaskType::kFull}};
  const std::vector<AttnSlice> causal = {{{0, 20}, {0, 12}, AttnMaskType::kCausal}};
  run_local_ranks(2, [&](Communicator& comm) {
    const auto ref = make_flex_key(full, 20, 12, 2, 2, 8, comm, {}, 2, false);
    const auto nk = make_flex_key_for_new_mask_after_dispatch(causal, *ref, comm);
    EXPECT_FALSE(nk->key().is_same_source);
    EXPECT_EQ(nk->dispatch_meta(), ref->dispatch_meta());
    EXPECT_EQ(nk->dispatch_meta_kv(), ref->dispatch_meta_kv());
    EXPECT_EQ(nk->plan(), make_rank_plan(causal, ref->dispatch_meta(), ref->dispatch_meta_kv(),
                                         ref->key().config.overlap_config, comm.rank()));
  });
}

// Uneven shards: neither side is padded, and K/V's own dispatch is uneven as well.
TEST(CrossAttn, UnevenShardsOnBothSidesMatchDenseReference) {
  std::mt19937_64 rng(testing::seed(1415));
  int64_t uneven_kv = 0;
  for (int iter = 0; iter < 80; ++iter) {
    CaseSpec s;
    s.cp = 1 + iter % 8;
    s.chunk = std::uniform_int_distribution<int64_t>(1, 4)(rng);
    // At least cp chunks on each side (K/V's chunk size is at most q's).
    s.total = std::uniform_int_distribution<int64_t>(s.cp * s.chunk, s.cp * s.chunk + 30)(rng);
    s.total_kv = std::uniform_int_distribution<int64_t>(s.cp * s.chunk, s.cp * s.chunk + 30)(rng);
    // Sequential places every chunk; MinHeap may leave a rank without a (zero-cost) chunk, so it
    // runs on a mask whose rows and columns all have cells.
    const bool heap = iter % 3 == 0;
    s.slices = heap ? std::vector<AttnSlice>{{{0, s.total}, {0, s.total_kv}, AttnMaskType::kFull}}
                    : testing::random_slices(rng, s.total, s.total_kv, 6);
    s.config.dispatch_config.uneven_shard = true;
    s.config.dispatch_config.alg.type =
        heap ? DispatchAlgType::kMinHeap : DispatchAlgType::kSequential;
    s.hq = 2;
    s.hkv = 1 + static_cast<int64_t>(rng() % 2);
    OverlapConfig& o = s.config.overlap_config;
    o.min_chunk_size = 1 + static_cast<int64_t>(rng() % 4);
    o.degree = static_cast<int64_t>(rng() % 3);
    const int64_t chunk_kv = kv_chunk_size(s.chunk, s.total_kv, s.cp);
    uneven_kv += s.total_kv % chunk_kv != 0 || (s.total_kv + chunk_kv - 1) / chunk_kv % s.cp != 0;
    SCOPED_TRACE("iteration " + std::to_string(iter) + ": cp " + std::to_string(s.cp) + ", q " +
                 std::to_string(s.total) + ", kv " + std::to_string(s.total_kv) + ", chunk " +
                 std::to_string(s.chunk) + (heap ? ", min_heap" : ", sequential"));
    check_against_dense(s, rng, 1e-10);
    if (HasFailure()) return;
  }
  EXPECT_GT(uneven_kv, 40);  // most cases have a short K/V chunk or unequal K/V chunk counts
  clear_key_cache();
}

TEST(CrossAttn, UnevenShardsLeavePaddingOutAndLengthsDiffer) {
  const std::vector<AttnSlice> full = {{{0, 10}, {0, 23}, AttnMaskType::kFull}};
  DistAttnConfig config;
  config.dispatch_config.uneven_shard = true;
  config.dispatch_config.alg.type = DispatchAlgType::kSequential;
  std::vector<int64_t> kv_lengths(3);
  std::mutex mu;
  run_local_ranks(3, [&](Communicator& comm) {
    // q: 10 rows in chunks of 3 (4 chunks); K/V: 23 rows in chunks of min(3, ceil(23 / 24)) = 1.
    const auto rt = make_flex_key(full, 10, 23, 0, 0, 0, comm, config, 3, false);
    EXPECT_EQ(rt->key().pad_size, 0);
    EXPECT_EQ(rt->key().pad_size_kv, 0);
    EXPECT_EQ(rt->padded_seqlen_kv(), 23);
    EXPECT_EQ(static_cast<int64_t>(rt->position_ids_kv().size()), rt->shard_seqlen_kv());
    std::lock_guard lock(mu);
    kv_lengths[comm.rank()] = rt->shard_seqlen_kv();
  });
  EXPECT_EQ(kv_lengths, (std::vector<int64_t>{8, 8, 7}));
  // Fewer K/V rows than ranks: no uneven K/V layout, and the error says it is K/V's.
  const std::vector<AttnSlice> short_kv = {{{0, 12}, {0, 2}, AttnMaskType::kFull}};
  run_local_ranks(3, [&](Communicator& comm) {
    try {
      make_flex_key(short_kv, 12, 2, 0, 0, 0, comm, config, 2, false);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("total_seqlen_k = 2: uneven shards of "
                                           "cross-attention's K/V need at least cp_size = 3"),
                std::string::npos)
          << e.what();
    }
  });
  clear_key_cache();
}

// The hierarchical exchange (a hier_mesh) brings remote K/V rows from their K/V owners: the same
// results as the dense reference, even or uneven, at every overlap degree.
TEST(CrossAttn, HierarchicalExchangeMatchesDenseReference) {
  std::mt19937_64 rng(testing::seed(1416));
  for (const CommMesh mesh : {CommMesh{2, 2}, CommMesh{2, 4}}) {
    for (int64_t degree : {0, 1, 2}) {
      for (bool uneven : {false, true}) {
        CaseSpec s;
        s.cp = mesh.size();
        s.chunk = 2;
        s.total = std::uniform_int_distribution<int64_t>(2 * s.cp, 2 * s.cp + 20)(rng);
        s.total_kv = std::uniform_int_distribution<int64_t>(2 * s.cp, 2 * s.cp + 30)(rng);
        s.slices = testing::random_slices(rng, s.total, s.total_kv, 6);
        s.config.hier_mesh = mesh;
        s.config.overlap_config.degree = degree;
        s.config.overlap_config.min_chunk_size = 2;
        s.config.dispatch_config.uneven_shard = uneven;
        if (uneven) s.config.dispatch_config.alg.type = DispatchAlgType::kSequential;
        SCOPED_TRACE("mesh " + std::to_string(mesh.inter) + "x" + std::to_string(mesh.intra) +
                     " degree " + std::to_string(degree) + (uneven ? " uneven" : "") + ": q " +
                     std::to_string(s.total) + ", kv " + std::to_string(s.total_kv));
        check_against_dense(s, rng, 1e-10);
        if (HasFailure()) return;
      }
    }
  }
  clear_key_cache();
}

}  // namespace
}  // namespace magi
