// FfaOptions::max_logits on the CPU forward: the per-head largest capped score against the fp64
// oracle (testing/dense_max_logits.h), merged by max over calls, NaN kept, validated.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kernels/cpu/ffa_case.h"
#include "kernels/cpu/max_logits.h"
#include "magi/check.h"
#include "testing/dense_max_logits.h"
#include "testing/seed.h"

namespace magi {
namespace {

using testing::AttnCase;
using testing::HostTensor;
constexpr double kInf = std::numeric_limits<double>::infinity();

/// ffa_forward over `slices` with max_logits prefilled with `init`; returns max_logits.
std::vector<double> run_max(const AttnCase& c, std::span<const AttnSlice> slices,
                            double init = -kInf) {
  HostTensor out(DType::kFloat32, {c.spec.sq, c.spec.hq, c.spec.vd()});
  HostTensor lse(DType::kFloat32, {c.spec.sq, c.spec.hq});
  HostTensor m(DType::kFloat32, {c.spec.hq});
  m.fill(init);
  FfaOptions o = c.opts();
  o.max_logits = m.view();
  ffa_forward(c.tq.view(), c.tk.view(), c.tv.view(), slices, o, out.view(), lse.view());
  return m.get();
}

void expect_max_close(const std::vector<double>& got, const std::vector<double>& ref, double tol,
                      const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  for (size_t h = 0; h < ref.size(); ++h) {
    if (std::isnan(ref[h]) || std::isinf(ref[h])) {
      EXPECT_TRUE(std::isnan(ref[h]) ? std::isnan(got[h]) : got[h] == ref[h])
          << what << " head " << h << ": got " << got[h] << ", want " << ref[h];
      continue;
    }
    EXPECT_NEAR(got[h], ref[h], tol * std::max(1.0, std::abs(ref[h]))) << what << " head " << h;
  }
}

TEST(MaxLogitsCpu, MatchesDenseReferenceOnRandomMasks) {
  std::mt19937_64 rng(testing::seed(314));
  const DType dtypes[] = {DType::kFloat64, DType::kFloat32, DType::kBFloat16, DType::kFloat16};
  int softcapped = 0, gqa = 0;
  for (int iter = 0; iter < 200; ++iter) {
    const DType dtype = dtypes[iter % 4];
    const AttnCase c = testing::random_case(rng, dtype);
    softcapped += c.spec.softcap > 0;
    gqa += c.spec.hq > c.spec.hkv;
    const auto ref = testing::dense_max_logits(c.spec, c.q, c.k, c.mask);
    // fp32 accumulation of the dot product (and q * scale rounded first), then fp32 storage.
    expect_max_close(run_max(c, c.slices), ref, dtype == DType::kFloat64 ? 1e-6 : 1e-5,
                     c.describe());
    if (HasFailure()) return;
  }
  EXPECT_GT(softcapped, 20);
  EXPECT_GT(gqa, 20);
}

TEST(MaxLogitsCpu, EveryMaskTypeAndLongRowsAcrossWorkItems) {
  // sq spans several work items per head (kBlocksPerItem blocks each), so the per-item maxima
  // are reduced; the largest score sits in a late row of one head.
  std::mt19937_64 rng(testing::seed(9));
  for (const AttnMaskType t : {AttnMaskType::kFull, AttnMaskType::kCausal, AttnMaskType::kInvCausal,
                               AttnMaskType::kBiCausal}) {
    testing::DenseAttnSpec s;
    s.sq = 700;
    s.sk = 300;
    s.hq = 4;
    s.hkv = 2;
    s.d = 16;
    s.softcap = t == AttnMaskType::kCausal ? 3.0 : 0.0;
    AttnCase c = testing::make_case(rng, DType::kFloat32, s,
                                    {{{0, 350}, {0, 300}, t}, {{400, 700}, {100, 250}, t}});
    const auto ref = testing::dense_max_logits(c.spec, c.q, c.k, c.mask);
    expect_max_close(run_max(c, c.slices), ref, 1e-5, std::string(to_string(t)));
  }
}

TEST(MaxLogitsCpu, MergesByMaxOverCallsAndKeepsLargerValues) {
  std::mt19937_64 rng(testing::seed(5));
  testing::DenseAttnSpec s;
  s.sq = 20;
  s.sk = 30;
  s.hq = 4;
  s.hkv = 1;
  s.d = 8;
  const std::vector<AttnSlice> all = {{{0, 20}, {0, 30}, AttnMaskType::kFull}};
  const AttnCase c = testing::make_case(rng, DType::kFloat64, s, all);
  const auto ref = testing::dense_max_logits(c.spec, c.q, c.k, c.mask);
  // Two calls over halves of the keys, accumulating into one max_logits, equal one call.
  HostTensor out(DType::kFloat64, {20, 4, 8}), lse(DType::kFloat64, {20, 4});
  HostTensor m(DType::kFloat32, {4});
  m.fill(-kInf);
  out.fill(0);
  lse.fill(-kInf);
  FfaOptions o = c.opts();
  o.max_logits = m.view();
  const std::vector<AttnSlice> a = {{{0, 20}, {0, 13}, AttnMaskType::kFull}};
  const std::vector<AttnSlice> b = {{{0, 20}, {13, 30}, AttnMaskType::kFull}};
  ffa_forward(c.tq.view(), c.tk.view(), c.tv.view(), a, o, out.view(), lse.view(), true);
  ffa_forward(c.tq.view(), c.tk.view(), c.tv.view(), b, o, out.view(), lse.view(), true);
  expect_max_close(m.get(), ref, 1e-6, "two calls");
  // A prefilled value above every score stays.
  for (double x : run_max(c, all, 50.0)) EXPECT_EQ(x, 50.0);
}

TEST(MaxLogitsCpu, NoValidCellIsMinusInfinity) {
  std::mt19937_64 rng(testing::seed(6));
  testing::DenseAttnSpec s;
  s.sq = 6;
  s.sk = 6;
  s.hq = 2;
  s.hkv = 1;
  s.d = 8;
  const AttnCase c = testing::make_case(rng, DType::kFloat32, s, {});
  for (double x : run_max(c, {})) EXPECT_EQ(x, -kInf);
  // An empty slice covers nothing either.
  const std::vector<AttnSlice> empty = {{{2, 2}, {0, 6}, AttnMaskType::kFull}};
  for (double x : run_max(c, empty)) EXPECT_EQ(x, -kInf);
}

TEST(MaxLogitsCpu, NanScoreInAValidCellMakesItsHeadNan) {
  std::mt19937_64 rng(testing::seed(7));
  testing::DenseAttnSpec s;
  s.sq = 40;
  s.sk = 40;
  s.hq = 4;
  s.hkv = 2;
  s.d = 8;
  const std::vector<AttnSlice> causal = {{{0, 40}, {0, 40}, AttnMaskType::kCausal}};
  for (const DType dtype : {DType::kFloat32, DType::kFloat64}) {
    AttnCase c = testing::make_case(rng, dtype, s, causal);
    // q row 30 of head 1 (its cells are valid) and k row 39 of kv head 1 (seen by row 39 of
    // heads 2 and 3) are NaN; head 0 stays finite.
    std::vector<double> q = c.q, k = c.k;
    q[(30 * 4 + 1) * 8 + 2] = NAN;
    k[(39 * 2 + 1) * 8 + 0] = NAN;
    c.tq.set(q);
    c.tk.set(k);
    c.q = q;
    c.k = k;
    const auto got = run_max(c, causal);
    EXPECT_FALSE(std::isnan(got[0])) << to_string(dtype);
    EXPECT_TRUE(std::isnan(got[1]) && std::isnan(got[2]) && std::isnan(got[3])) << to_string(dtype);
    expect_max_close(got, testing::dense_max_logits(c.spec, c.q, c.k, c.mask), 1e-5, "nan");
    // Neither NaN inside the mask: finite.
    const std::vector<AttnSlice> head = {{{0, 20}, {0, 20}, AttnMaskType::kCausal}};
    for (double x : run_max(c, head)) EXPECT_TRUE(std::isfinite(x)) << to_string(dtype);
  }
}

TEST(MaxLogitsCpu, PlusInfinityUnlessTheRowAlsoHasANan) {
  std::mt19937_64 rng(testing::seed(8));
  testing::DenseAttnSpec s;
  s.sq = 40;
  s.sk = 40;
  s.hq = 2;
  s.hkv = 1;
  s.d = 8;
  // One row sees every key: q element +inf makes its scores +-inf, so row_max is +inf; a NaN
  // in one of its keys must still make the head NaN.
  const std::vector<AttnSlice> one_row = {{{30, 31}, {0, 40}, AttnMaskType::kFull}};
  for (const DType dtype : {DType::kFloat32, DType::kFloat64}) {
    AttnCase c = testing::make_case(rng, dtype, s, one_row);
    std::vector<double> q = c.q, k = c.k;
    q[(30 * 2 + 0) * 8 + 1] = INFINITY;
    c.tq.set(q);
    EXPECT_EQ(run_max(c, one_row)[0], kInf) << to_string(dtype);
    k[7 * 8 + 3] = NAN;
    c.tk.set(k);
    const auto got = run_max(c, one_row);
    EXPECT_TRUE(std::isnan(got[0]) && std::isnan(got[1])) << to_string(dtype);
  }
}

TEST(MaxLogitsCpu, NanMaxKeepsNan) {
  EXPECT_TRUE(std::isnan(cpu::nan_max(NAN, 1.0)));
  EXPECT_TRUE(std::isnan(cpu::nan_max(1.0, NAN)));
  EXPECT_TRUE(std::isnan(cpu::nan_max(-kInf, NAN)));
  EXPECT_EQ(cpu::nan_max(-kInf, 2.0), 2.0);
  EXPECT_EQ(cpu::nan_max(3.0, 2.0), 3.0);
}

TEST(MaxLogitsValidation, NamesMaxLogits) {
  HostTensor q(DType::kFloat32, {5, 4, 8}), k(DType::kFloat32, {5, 2, 8}),
      v(DType::kFloat32, {5, 2, 8}), out(DType::kFloat32, {5, 4, 8}), lse(DType::kFloat32, {5, 4});
  const std::vector<AttnSlice> sl = {{{0, 5}, {0, 5}, AttnMaskType::kFull}};
  const HostTensor wrong_heads(DType::kFloat32, {3}), f64(DType::kFloat64, {4}),
      two_d(DType::kFloat32, {1, 4});
  for (const HostTensor* m : {&wrong_heads, &f64, &two_d}) {
    FfaOptions o;
    o.max_logits = m->view();
    try {
      ffa_forward(q.view(), k.view(), v.view(), sl, o, out.view(), lse.view());
      ADD_FAILURE() << "accepted " << m->view().describe();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("max_logits"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace magi
