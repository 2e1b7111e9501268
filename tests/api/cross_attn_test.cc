// Cross-attention end to end on simulated ranks: q and K/V of different lengths, dispatched
// separately (dispatch / dispatch_kv), calc_attn forward and backward, undispatch /
// undispatch_kv, against dense float64 attention over the materialised (Sq x Sk) mask.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "magi/check.h"
#include "magi/dist_attn.h"
#include "testing/dense_attention.h"
#include "testing/dist_run.h"
#include "testing/host_tensor.h"
#include "testing/random_mask.h"

namespace magi {
namespace {

using testing::CaseSpec;
using testing::HostTensor;
using testing::Result;

// max |a - b| / max |b|; -inf entries (empty rows) must match exactly.
double rel_err(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    if (std::isinf(b[i]) || std::isinf(a[i]) || std::isnan(a[i])) {
      if (a[i] != b[i]) return INFINITY;
      continue;
    }
    num = std::max(num, std::abs(a[i] - b[i]));
    den = std::max(den, std::abs(b[i]));
  }
  return den > 0 ? num / den : num;
}

void check_against_dense(const CaseSpec& s, std::mt19937_64& rng, double tol) {
  const int64_t Sq = s.total, Sk = s.total_kv;
  const auto q = testing::rounded(s.dtype, testing::random_values(rng, Sq * s.hq * s.d));
  const auto k = testing::rounded(s.dtype, testing::random_values(rng, Sk * s.hkv * s.d));
  const auto v = testing::rounded(s.dtype, testing::random_values(rng, Sk * s.hkv * s.d));
  const auto dout = testing::rounded(s.dtype, testing::random_values(rng, Sq * s.hq * s.d));
  const testing::DenseAttnSpec spec{Sq, Sk, s.hq, s.hkv, s.d, s.opts.softmax_scale, s.opts.softcap};
  const auto mask = testing::dense_mask(s.slices, Sq, Sk);
  const auto ref = testing::dense_forward(spec, q, k, v, mask);
  const auto grads = testing::dense_backward(spec, q, k, v, dout, mask);
  const Result got = testing::run(s, q, k, v, dout);
  EXPECT_LE(rel_err(got.out, ref.out), tol) << "out";
  EXPECT_LE(rel_err(got.lse, ref.lse), tol) << "lse";
  EXPECT_LE(rel_err(got.dq, grads.dq), tol) << "dq";
  EXPECT_LE(rel_err(got.dk, grads.dk), tol) << "dk";
  EXPECT_LE(rel_err(got.dv, grads.dv), tol) << "dv";
}

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
  std::mt19937_64 rng(1414);
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
    OverlapConfig& o = s.config.overlap_config;
    o.min_chunk_size = 1 + static_cast<int64_t>(rng() % 4);
    o.max_num_chunks = 8;
    const int64_t degrees[] = {0, 1, 2, 4, -1};
    const int64_t deg = degrees[rng() % 5];
    if (deg < 0) {
      o.mode = AttnOverlapMode::kDynamic;
      o.degree.reset();
    } else {
      o.degree = deg;
    }
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
  std::mt19937_64 rng(3);
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
      s.calls = 2;  // a cached runtime serves a second call
      SCOPED_TRACE(std::string(m.name) + " cp " + std::to_string(cp));
      check_against_dense(s, rng, 1e-10);
    }
  }
}

TEST(CrossAttn, KeysDispatchKvOnItsOwnAndCheckShapes) {
  const std::vector<AttnSlice> full = {{{0, 20}, {0, 6}, AttnMaskType::kFull}};
  auto expect_error = [](auto fn, const std::string& needle) {
    try {
      fn();
      ADD_FAILURE() << "no error; expected one naming " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
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

}  // namespace
}  // namespace magi
