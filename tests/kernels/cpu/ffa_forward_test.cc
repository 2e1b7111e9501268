// CPU FFA forward against the dense fp64 reference (tolerance rules in ffa_case.h).
#include <gtest/gtest.h>

#include <iostream>
#include <map>

#include "kernels/cpu/ffa_case.h"
#include "testing/seed.h"

namespace magi {
namespace {

using testing::AttnCase;
using testing::HostTensor;

struct ForwardResult {
  std::vector<double> out, lse;
  DType out_dtype, lse_dtype;
};

/// lse in fp64 for fp64 inputs (else its storage alone would exceed the fp64 tolerance).
DType default_lse_dtype(const AttnCase& c) {
  return c.dtype == DType::kFloat64 ? DType::kFloat64 : DType::kFloat32;
}

ForwardResult run_forward(const AttnCase& c, DType out_dtype, DType lse_dtype) {
  HostTensor out(out_dtype, {c.spec.sq, c.spec.hq, c.spec.vd()});
  HostTensor lse(lse_dtype, {c.spec.sq, c.spec.hq});
  out.fill(12345.0);  // overwritten: stale values must not leak into the result
  lse.fill(12345.0);
  ffa_forward(c.tq.view(), c.tk.view(), c.tv.view(), c.slices, c.opts(), out.view(), lse.view());
  return {out.get(), lse.get(), out_dtype, lse_dtype};
}

ForwardResult run_forward(const AttnCase& c, DType out_dtype) {
  return run_forward(c, out_dtype, default_lse_dtype(c));
}

void check_forward(const AttnCase& c, const ForwardResult& got) {
  const testing::DenseForward ref = testing::dense_forward(c.spec, c.q, c.k, c.v, c.mask);
  testing::expect_close(got.out, ref.out, c.dtype, got.out_dtype, "out of " + c.describe());
  testing::expect_close(got.lse, ref.lse, c.dtype, got.lse_dtype, "lse of " + c.describe(), 1.0);
}

TEST(FfaForwardCpu, MatchesDenseReferenceOnRandomMasks) {
  std::mt19937_64 rng(testing::seed(2024));
  const DType dtypes[] = {DType::kFloat64, DType::kFloat32, DType::kBFloat16, DType::kFloat16};
  std::map<std::string, int> coverage;
  for (int iter = 0; iter < 400; ++iter) {
    const DType dtype = dtypes[iter % 4];
    const AttnCase c = testing::random_case(rng, dtype);
    check_forward(c, run_forward(c, dtype));
    ++coverage[std::string(to_string(dtype)) + " group=" + std::to_string(c.spec.hq / c.spec.hkv) +
               (c.spec.softcap > 0 ? " softcap" : "")];
    if (HasFailure()) {
      std::cerr << "first failing case: " << c.describe() << "\n";
      return;
    }
  }
  std::cout << "[coverage] forward cases:";
  for (const auto& [k, n] : coverage) std::cout << " {" << k << "}: " << n;
  std::cout << "\n";
}

// fp32 accumulators written from lower-precision inputs, and fp64 lse.
TEST(FfaForwardCpu, WideOutputsFromNarrowInputs) {
  std::mt19937_64 rng(testing::seed(7));
  for (int iter = 0; iter < 40; ++iter) {
    const AttnCase c = testing::random_case(rng, iter % 2 ? DType::kBFloat16 : DType::kFloat16);
    const ForwardResult got = run_forward(c, DType::kFloat32, DType::kFloat64);
    check_forward(c, got);
  }
}

// Big enough for several threads, work items and row blocks with ragged key sets.
TEST(FfaForwardCpu, MatchesDenseReferenceOnLargerVarlenMasks) {
  std::mt19937_64 rng(testing::seed(99));
  for (DType dtype : {DType::kFloat64, DType::kFloat32}) {
    testing::DenseAttnSpec s{.sq = 300, .sk = 300, .hq = 4, .hkv = 2, .d = 64};
    const AttnCase c = testing::make_case(rng, dtype, s, testing::random_varlen_slices(rng, 300));
    check_forward(c, run_forward(c, dtype));
  }
}

TEST(FfaForwardCpu, EmptyRowsGiveZeroAndMinusInf) {
  std::mt19937_64 rng(testing::seed(1));
  testing::DenseAttnSpec s{.sq = 9, .sk = 7, .hq = 2, .hkv = 1, .d = 8};
  // Rows 0-2 and 6-8 see nothing; row 3 of the causal slice sees nothing either (Sq > Sk).
  const AttnCase c = testing::make_case(
      rng, DType::kFloat32, s, {{{3, 6}, {0, 1}, AttnMaskType::kCausal}, {{4, 6}, {0, 0}, {}}});
  const ForwardResult got = run_forward(c, DType::kFloat32);
  for (int64_t row : {0, 1, 2, 3, 6, 7, 8}) {
    for (int64_t h = 0; h < 2; ++h) {
      EXPECT_EQ(got.lse[row * 2 + h], -std::numeric_limits<double>::infinity()) << row;
      for (int64_t e = 0; e < 8; ++e) EXPECT_EQ(got.out[(row * 2 + h) * 8 + e], 0.0) << row;
    }
  }
  check_forward(c, got);

  // No keys at all (Sk = 0) and no slices.
  testing::DenseAttnSpec none{.sq = 5, .sk = 0, .hq = 1, .hkv = 1, .d = 4};
  const AttnCase e = testing::make_case(rng, DType::kFloat32, none, {});
  const ForwardResult got_e = run_forward(e, DType::kFloat32);
  for (double x : got_e.out) EXPECT_EQ(x, 0.0);
  for (double x : got_e.lse) EXPECT_EQ(x, -std::numeric_limits<double>::infinity());
}

// A cell covered by several slices counts once (union semantics).
TEST(FfaForwardCpu, SharedCellsCountOnce) {
  std::mt19937_64 rng(testing::seed(3));
  testing::DenseAttnSpec s{.sq = 16, .sk = 16, .hq = 1, .hkv = 1, .d = 16};
  const std::vector<AttnSlice> once = {{{0, 16}, {0, 16}, AttnMaskType::kCausal}};
  std::vector<AttnSlice> twice = once;
  twice.push_back({{4, 12}, {0, 10}, AttnMaskType::kFull});
  twice.push_back({{0, 16}, {0, 16}, AttnMaskType::kBiCausal});
  const AttnCase c = testing::make_case(rng, DType::kFloat64, s, twice);
  check_forward(c, run_forward(c, DType::kFloat64));
}

// Results do not depend on the scheduling: two runs are bit-identical.
TEST(FfaForwardCpu, Deterministic) {
  std::mt19937_64 rng(testing::seed(5));
  testing::DenseAttnSpec s{.sq = 700, .sk = 500, .hq = 4, .hkv = 4, .d = 32};
  const AttnCase c =
      testing::make_case(rng, DType::kFloat32, s, testing::random_slices(rng, 700, 500, 8));
  const ForwardResult a = run_forward(c, DType::kFloat32), b = run_forward(c, DType::kFloat32);
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(a.lse, b.lse);
}

}  // namespace
}  // namespace magi
