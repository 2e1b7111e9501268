// End to end on simulated ranks: dispatch -> calc_attn fwd/bwd -> undispatch, against dense
// float64 attention over the materialised global mask.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <mutex>
#include <random>

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
using testing::run;

using testing::rel_err;

TEST(DistAttn, MatchesDenseReferenceOnRandomMasksAndConfigs) {
  std::mt19937_64 rng(testing::seed(77));
  const int64_t cps[] = {1, 2, 3, 4, 8};
  for (int iter = 0; iter < 160; ++iter) {
    CaseSpec s;
    s.cp = cps[iter % 5];
    s.chunk = std::uniform_int_distribution<int64_t>(1, 4)(rng);
    s.total = std::uniform_int_distribution<int64_t>(1, 40)(rng);
    s.slices = rng() % 2 ? testing::random_slices(rng, s.total, s.total, 6)
                         : testing::random_varlen_slices(rng, s.total, 5);
    s.hkv = 1 + static_cast<int64_t>(rng() % 2);
    s.hq = s.hkv * (1 + static_cast<int64_t>(rng() % 2));
    s.dtype = iter % 4 == 3 ? DType::kFloat32 : DType::kFloat64;
    OverlapConfig& o = s.config.overlap_config;
    const int64_t deg = testing::random_stages(rng, o);
    if (rng() % 2) o.alg.type = OverlapAlgType::kGreedy;
    if (rng() % 3 == 0) {
      s.opts.softmax_scale = 0.7;
      s.opts.softcap = 2.0;
    }
    // The exact solver only takes small inputs (<= 20 chunks).
    const int64_t padded_chunks = (s.total + s.chunk * s.cp - 1) / (s.chunk * s.cp) * s.cp;
    s.config.dispatch_config.alg.type =
        static_cast<DispatchAlgType>(rng() % (padded_chunks <= 20 ? 5 : 4));
    s.config.dispatch_config.alg.top_p = 0.5;
    // Every other case communicates hierarchically over a mesh of the group (its own generator,
    // so the cases stay those of the flat test).
    std::mt19937_64 mesh_rng(testing::seed(iter));
    if (mesh_rng() % 2) {
      std::vector<int64_t> intra;
      for (int64_t i = 1; i <= s.cp; ++i)
        if (s.cp % i == 0) intra.push_back(i);
      const int64_t width = intra[mesh_rng() % intra.size()];
      s.config.hier_mesh = CommMesh{s.cp / width, width};
    }
    // Every third case has a value head dim of its own (MLA-like: K|V rows of two widths).
    std::mt19937_64 dv_rng(testing::seed(1000 + iter));
    if (dv_rng() % 3 == 0) s.dv = dv_rng() % 2 ? 4 : 12;
    const std::string mesh = s.config.hier_mesh ? std::to_string(s.config.hier_mesh->inter) + "x" +
                                                      std::to_string(s.config.hier_mesh->intra)
                                                : "flat";
    SCOPED_TRACE("iteration " + std::to_string(iter) + ": cp " + std::to_string(s.cp) + ", total " +
                 std::to_string(s.total) + ", chunk " + std::to_string(s.chunk) + ", degree " +
                 std::to_string(deg) + ", " + std::string(to_string(s.dtype)) + ", mesh " + mesh +
                 ", dv " + std::to_string(s.vd()));
    check_against_dense(s, rng, s.dtype == DType::kFloat64 ? 1e-10 : 1e-5);
    if (HasFailure()) return;
  }
}

TEST(DistAttn, HierarchicalMeshesMatchDenseReference) {
  std::mt19937_64 rng(testing::seed(9));
  for (auto [inter, intra] : {std::pair<int64_t, int64_t>{2, 2}, {2, 4}, {4, 2}}) {
    for (int64_t degree : {0, 1, 3}) {
      for (bool varlen : {false, true}) {
        CaseSpec s;
        s.cp = inter * intra;
        s.total = 13 * s.cp + 5;
        s.chunk = 3;
        s.hq = 4;
        s.hkv = 2;
        s.slices = varlen ? testing::random_varlen_slices(rng, s.total, 6)
                          : testing::random_slices(rng, s.total, s.total, 8);
        s.config.overlap_config.degree = degree;
        s.config.overlap_config.min_chunk_size = 2;
        s.config.hier_mesh = CommMesh{inter, intra};
        SCOPED_TRACE("mesh " + std::to_string(inter) + "x" + std::to_string(intra) + " degree " +
                     std::to_string(degree) + (varlen ? " varlen" : " random"));
        check_against_dense(s, rng, 1e-10);
      }
    }
  }
}

TEST(DistAttn, AllFourMaskTypesAtEveryCpSize) {
  std::mt19937_64 rng(testing::seed(5));
  for (int t = 0; t < 4; ++t) {
    for (int64_t cp : {1, 2, 3, 4, 8}) {
      CaseSpec s;
      s.cp = cp;
      s.total = 37;  // not a multiple of anything
      s.chunk = 2;
      s.hq = 4;
      s.hkv = 2;
      const auto type = static_cast<AttnMaskType>(t);
      s.slices = {{{0, 20}, {0, 25}, type}, {{20, 37}, {5, 37}, type}, {{10, 30}, {0, 12}, type}};
      SCOPED_TRACE(std::string(to_string(type)) + " cp " + std::to_string(cp));
      check_against_dense(s, rng, 1e-10);
    }
  }
}

TEST(DistAttn, BadInputsRaiseClearErrors) {
  const std::vector<AttnSlice> causal = {{{0, 16}, {0, 16}, AttnMaskType::kCausal}};
  run_local_ranks(2, [&](Communicator& comm) {
    expect_error([&] { make_flex_key(causal, 16, 16, 3, 2, 8, comm); }, "num_heads_q = 3");
    expect_error([&] { make_flex_key(causal, 16, 12, 2, 2, 8, comm); }, "total_seqlen_k = 12");
    expect_error([&] { make_flex_key(causal, 8, 8, 2, 2, 8, comm); }, "q_ranges[0]");
    // A length that padding would carry past int64 (its chunks within the dispatch's limit).
    const int64_t near_max = std::numeric_limits<int64_t>::max() - 5;
    const std::vector<AttnSlice> one = {{{0, 16}, {0, 16}, AttnMaskType::kFull}};
    expect_error(
        [&] { make_flex_key(one, near_max, near_max, 2, 2, 8, comm, {}, int64_t{1} << 40); },
        "overflows int64");
    DistAttnConfig mesh;
    mesh.hier_mesh = CommMesh{2, 2};
    expect_error([&] { make_flex_key(causal, 16, 16, 2, 2, 8, comm, mesh); },
                 "mesh 2x2 has 4 ranks, but cp_size = 2");
    mesh.hier_mesh = CommMesh{0, 2};
    expect_error([&] { make_flex_key(causal, 16, 16, 2, 2, 8, comm, mesh); },
                 "DistAttnConfig.hier_mesh = 0x2");
    const auto rt = make_flex_key(causal, 16, 16, 2, 2, 8, comm, {}, 4);
    const int64_t n = rt->shard_seqlen();
    HostTensor q(DType::kFloat32, {n, 2, 8}), k(DType::kFloat32, {n, 2, 8}),
        bad_len(DType::kFloat32, {n + 1, 2, 8}), bad_heads(DType::kFloat32, {n, 1, 8}),
        bad_dtype(DType::kFloat64, {n, 2, 8}), o(DType::kFloat32, {n, 2, 8}),
        l(DType::kFloat32, {n, 2});
    expect_error(
        [&] { calc_attn(*rt, comm, bad_len.view(), k.view(), k.view(), {}, o.view(), l.view()); },
        "local length");
    expect_error(
        [&] {
          calc_attn(*rt, comm, q.view(), bad_heads.view(), bad_heads.view(), {}, o.view(),
                    l.view());
        },
        "the key expects");
    expect_error(
        [&] {
          calc_attn(*rt, comm, q.view(), bad_dtype.view(), bad_dtype.view(), {}, o.view(),
                    l.view());
        },
        "dtype");
    LocalGroup other(2);
    expect_error(
        [&] {
          calc_attn(*rt, other.member(comm.rank()), q.view(), k.view(), k.view(), {}, o.view(),
                    l.view());
        },
        "the key was made for");
    // Null data and outputs whose rows overlap (stride 0) are refused, not written through.
    HostTensor g(DType::kFloat32, {16, 2, 8});
    TensorView null_local = q.view(), same_row = q.view();
    null_local.data = nullptr;
    same_row.strides[0] = 0;
    expect_error([&] { dispatch(*rt, g.view(), null_local); }, "x_local = float32");
    expect_error([&] { dispatch(*rt, g.view(), same_row); }, "its rows overlap");
    expect_error([&] { undispatch(*rt, comm, null_local, g.view()); }, "data is null");
    expect_error([&] { roll(*rt, comm, q.view(), 1, same_row); }, "its rows overlap");
    // A runtime over another rank's plan would run that rank's work.
    DistAttnKey key = rt->key();
    key.cp_rank = 1 - key.cp_rank;
    expect_error([&] { DistAttnRuntime(key, rt->plan()); }, "the key is rank");
    expect_error([&] { DistAttnRuntime(rt->key(), Plan{}); }, "0 rank plan(s)");
  });
}

TEST(DistAttn, CachedKeyIsReused) {
  clear_key_cache();
  const std::vector<AttnSlice> causal = {{{0, 64}, {0, 64}, AttnMaskType::kCausal}};
  run_local_ranks(2, [&](Communicator& comm) {
    const auto a = make_flex_key(causal, 64, 64, 2, 2, 8, comm, {}, 8);
    const auto b = make_flex_key(causal, 64, 64, 2, 2, 8, comm, {}, 8);
    EXPECT_EQ(a.get(), b.get());
    const auto c = make_flex_key(causal, 64, 64, 2, 2, 16, comm, {}, 8);
    EXPECT_NE(a.get(), c.get());
  });
  EXPECT_EQ(key_cache_size(), 4u);
  clear_key_cache();
  EXPECT_EQ(key_cache_size(), 0u);
}

TEST(DistAttn, DefaultChunkSizeReadsMinChunksPerRank) {
  // ceil(total / (m * cp)), at most 512; m = MAGI_ATTENTION_MIN_CHUNKS_PER_RANK (default 8).
  EXPECT_EQ(default_chunk_size(1000, 2), 63);
  EXPECT_EQ(default_chunk_size(100000, 2), 512);
  EXPECT_EQ(default_chunk_size(1, 8), 1);
  ASSERT_EQ(setenv("MAGI_ATTENTION_MIN_CHUNKS_PER_RANK", "2", 1), 0);
  EXPECT_EQ(default_chunk_size(1000, 2), 250);
  // Cross-attention's K/V chunk follows from the key's fields only (8 chunks per rank), so
  // ranks that read different values still plan the same K/V dispatch.
  EXPECT_EQ(kv_chunk_size(512, 1000, 2), 63);
  ASSERT_EQ(setenv("MAGI_ATTENTION_MIN_CHUNKS_PER_RANK", "0", 1), 0);
  expect_error([] { default_chunk_size(1000, 2); }, "MAGI_ATTENTION_MIN_CHUNKS_PER_RANK = '0'");
  unsetenv("MAGI_ATTENTION_MIN_CHUNKS_PER_RANK");
}

TEST(DistAttn, KeysWithoutChunkSizeFollowMinChunksPerRank) {
  // The default is resolved before the cache lookup: a key made after the variable changed is
  // a new key with the new chunk size; a value that does not parse is an error on every rank.
  clear_key_cache();
  const std::vector<AttnSlice> causal = {{{0, 1000}, {0, 1000}, AttnMaskType::kCausal}};
  std::mutex mu;
  std::vector<int64_t> chunks;
  auto make = [&] {
    run_local_ranks(2, [&](Communicator& comm) {
      const auto key = make_flex_key(causal, 1000, 1000, 2, 2, 8, comm, {});
      std::lock_guard lock(mu);
      chunks.push_back(key->key().chunk_size);
    });
  };
  make();
  ASSERT_EQ(setenv("MAGI_ATTENTION_MIN_CHUNKS_PER_RANK", "2", 1), 0);
  make();
  EXPECT_EQ(chunks, (std::vector<int64_t>{63, 63, 250, 250}));
  ASSERT_EQ(setenv("MAGI_ATTENTION_MIN_CHUNKS_PER_RANK", "x", 1), 0);
  std::atomic<int> errors{0};
  run_local_ranks(2, [&](Communicator& comm) {
    try {
      make_flex_key(causal, 1000, 1000, 2, 2, 8, comm, {});
    } catch (const Error& e) {
      if (std::string(e.what()).find("MAGI_ATTENTION_MIN_CHUNKS_PER_RANK = 'x'") !=
          std::string::npos) {
        ++errors;
      }
    }
  });
  EXPECT_EQ(errors.load(), 2);
  unsetenv("MAGI_ATTENTION_MIN_CHUNKS_PER_RANK");
  clear_key_cache();
}

TEST(Varlen, KeyFromCuSeqlensMatchesTheFlexKey) {
  const auto cu = full_attention_to_varlen_attention(5, 25);
  EXPECT_EQ(cu, (std::vector<int64_t>{0, 25, 50, 75, 100, 125}));
  EXPECT_THROW(full_attention_to_varlen_attention(0, 25), Error);
  run_local_ranks(2, [&](Communicator& comm) {
    const auto a = make_varlen_key(cu, cu, true, -1, -1, 4, 2, 8, comm, {}, 8);
    const auto slices = varlen_slices(cu, cu, true);
    const auto b = make_flex_key(slices, 125, 125, 4, 2, 8, comm, {}, 8);
    EXPECT_EQ(a.get(), b.get());
    EXPECT_EQ(a->padded_seqlen(), 128);  // 125 padded to a multiple of 8 * 2
    const auto ids = a->position_ids();
    EXPECT_EQ(static_cast<int64_t>(ids.size()), 64);
  });
}

TEST(Varlen, SlicesFollowTheWindowDefinition) {
  const std::vector<int64_t> cu = {0, 7, 20};
  for (auto [causal, left, right] : {std::tuple{false, -1L, -1L},
                                     {true, -1L, -1L},
                                     {false, 3L, 2L},
                                     {true, 4L, -1L},
                                     {false, -1L, 1L}}) {
    const auto slices = varlen_slices(cu, cu, causal, left, right);
    const auto m = testing::dense_mask(slices, 20, 20);
    for (int64_t i = 0; i < 20; ++i) {
      for (int64_t j = 0; j < 20; ++j) {
        const int64_t doc_i = i < 7 ? 0 : 1, doc_j = j < 7 ? 0 : 1;
        const int64_t r = causal ? 0 : right;
        const bool in = doc_i == doc_j && (left < 0 || j >= i - left) && (r < 0 || j <= i + r);
        ASSERT_EQ(m[i * 20 + j], in ? 1 : 0) << i << "," << j << " causal " << causal;
      }
    }
  }
}

}  // namespace
}  // namespace magi
