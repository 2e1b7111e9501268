// calc_attn's max_logits (FfaOptions::max_logits) on simulated ranks: the maximum over every
// stage and rank, the same bits on every rank, against the fp64 oracle over the global mask;
// NaN on one rank reaches all.
#include <gtest/gtest.h>

#include <cmath>
#include <mutex>
#include <random>

#include "magi/dist_attn.h"
#include "testing/dense_max_logits.h"
#include "testing/host_tensor.h"
#include "testing/random_mask.h"
#include "testing/seed.h"

namespace magi {
namespace {

using testing::HostTensor;

/// max_logits of every rank (fp64 inputs) after one calc_attn.
std::vector<std::vector<double>> run_ranks(const std::vector<AttnSlice>& slices, int64_t total,
                                           int64_t cp, int64_t degree, const std::vector<double>& q,
                                           const std::vector<double>& k, int64_t hq, int64_t hkv,
                                           int64_t d, double softcap) {
  std::vector<std::vector<double>> per_rank(static_cast<size_t>(cp));
  std::mutex mu;
  run_local_ranks(cp, [&](Communicator& comm) {
    DistAttnConfig config;
    config.overlap_config.degree = degree;
    config.overlap_config.min_chunk_size = 1;
    const auto rt = make_flex_key(slices, total, total, hq, hkv, d, comm, config, 2);
    const int64_t n = rt->shard_seqlen();
    const DType f64 = DType::kFloat64;
    HostTensor Q(f64, {total, hq, d}), K(f64, {total, hkv, d});
    Q.set(q);
    K.set(k);
    HostTensor lq(f64, {n, hq, d}), lk(f64, {n, hkv, d}), o(f64, {n, hq, d}), l(f64, {n, hq}),
        m(DType::kFloat32, {hq});
    dispatch(*rt, Q.view(), lq.view());
    dispatch(*rt, K.view(), lk.view());
    m.fill(12345.0);  // overwritten
    FfaOptions opts;
    opts.softcap = softcap;
    opts.max_logits = m.view();
    calc_attn(*rt, comm, lq.view(), lk.view(), lk.view(), opts, o.view(), l.view());
    std::lock_guard lock(mu);
    per_rank[static_cast<size_t>(comm.rank())] = m.get();
  });
  return per_rank;
}

void expect_same(const std::vector<double>& got, const std::vector<double>& ref,
                 const std::string& what) {
  ASSERT_EQ(got.size(), ref.size());
  for (size_t h = 0; h < ref.size(); ++h) {
    if (std::isnan(ref[h]) || std::isinf(ref[h])) {
      EXPECT_TRUE(std::isnan(ref[h]) ? std::isnan(got[h]) : got[h] == ref[h])
          << what << " head " << h << ": " << got[h] << " vs " << ref[h];
    } else {
      EXPECT_NEAR(got[h], ref[h], 1e-6 * std::max(1.0, std::abs(ref[h]))) << what << " head " << h;
    }
  }
}

TEST(MaxLogitsDist, MaxOverStagesAndRanksOnEveryRank) {
  std::mt19937_64 rng(testing::seed(17));
  for (int iter = 0; iter < 24; ++iter) {
    const int64_t cp = int64_t{1} << (iter % 3), total = 8 + static_cast<int64_t>(rng() % 30);
    const int64_t hkv = 1 + static_cast<int64_t>(rng() % 2), hq = hkv * 2, d = 8;
    const int64_t degree = iter % 4 == 3 ? 0 : 1 + static_cast<int64_t>(rng() % 3);
    const double softcap = iter % 2 ? 1.5 : 0.0;
    const auto slices = iter % 2 ? testing::random_slices(rng, total, total, 5)
                                 : testing::random_varlen_slices(rng, total, 4);
    std::vector<double> q = testing::random_values(rng, total * hq * d),
                        k = testing::random_values(rng, total * hkv * d);
    if (iter % 6 == 5 && !slices.empty() && slices[0].area() > 0) {
      q[(slices[0].q.start * hq + 1) * d] = NAN;  // a valid cell of head 1 (maybe on one rank)
    }
    testing::DenseAttnSpec s;
    s.sq = s.sk = total;
    s.hq = hq;
    s.hkv = hkv;
    s.d = d;
    s.softcap = softcap;
    const auto ref = testing::dense_max_logits(s, q, k, testing::dense_mask(slices, total, total));
    const auto got = run_ranks(slices, total, cp, degree, q, k, hq, hkv, d, softcap);
    const std::string what = "iter " + std::to_string(iter) + " cp " + std::to_string(cp);
    for (const auto& g : got) {
      expect_same(g, ref, what);
      for (size_t h = 0; h < g.size(); ++h) {  // the same bits on every rank
        EXPECT_TRUE(std::isnan(g[h]) ? std::isnan(got[0][h]) : g[h] == got[0][h]) << what;
      }
    }
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace magi
