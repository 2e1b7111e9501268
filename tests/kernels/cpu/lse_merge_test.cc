// The out/lse merge with non-finite partials (DESIGN.md §6): NaN on either side survives the
// merge in lse and in every element of out; -inf (no key) on one side leaves the other side
// unchanged, NaN included (issue 15, item 1).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kernels/cpu/lse_merge.h"
#include "kernels/range_ops.h"
#include "testing/host_tensor.h"

namespace magi {
namespace {

using testing::HostTensor;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(LseMerge, NanOnEitherSideGivesNan) {
  for (auto [l1, l2] : {std::pair{kNaN, 1.0}, {1.0, kNaN}, {kNaN, kNaN}, {kInf, 1.0}}) {
    const cpu::LseMerge m = cpu::lse_merge(l1, l2);
    EXPECT_TRUE(std::isnan(m.lse)) << l1 << " " << l2;
    double o1[2] = {1, 2};
    const double o2[2] = {3, 4};
    cpu::apply_lse_merge(m, o1, o2, 2);
    EXPECT_TRUE(std::isnan(o1[0]) && std::isnan(o1[1])) << l1 << " " << l2;
  }
}

TEST(LseMerge, EmptySideKeepsTheOtherOneNanIncluded) {
  const cpu::LseMerge a = cpu::lse_merge(kNaN, -kInf);
  EXPECT_TRUE(std::isnan(a.lse));
  EXPECT_TRUE(a.keep1);
  const cpu::LseMerge b = cpu::lse_merge(-kInf, kNaN);
  EXPECT_TRUE(std::isnan(b.lse));
  EXPECT_TRUE(b.take2);
  const cpu::LseMerge c = cpu::lse_merge(-kInf, -kInf);
  EXPECT_EQ(c.lse, -kInf);
  const cpu::LseMerge d = cpu::lse_merge(2.0, -kInf);
  EXPECT_EQ(d.lse, 2.0);
  EXPECT_TRUE(d.keep1);
}

TEST(LseMerge, MergeOutLseKeepsNanRows) {
  for (DType acc_t : {DType::kFloat64, DType::kFloat32}) {
    const int64_t n = 4, h = 1, d = 3;
    HostTensor o1(acc_t, {n, h, d}), l1(acc_t, {n, h}), o2(DType::kFloat32, {n, h, d}),
        l2(DType::kFloat32, {n, h});
    o1.fill(1.0);
    o2.fill(2.0);
    // rows: NaN partial into a finite accumulator; finite partial into a NaN accumulator;
    // NaN partial into an empty accumulator; empty partial into a NaN accumulator.
    l1.set({0.5, kNaN, -kInf, kNaN});
    l2.set({kNaN, 0.5, kNaN, -kInf});
    merge_out_lse(o1.view(), l1.view(), o2.view(), l2.view());
    const auto lse = l1.get(), out = o1.get();
    for (int64_t r = 0; r < n; ++r) {
      EXPECT_TRUE(std::isnan(lse[r])) << "row " << r << ": lse " << lse[r];
      if (r == 2) continue;  // the partial's out (2.0) is taken as it is with its NaN lse
      if (r == 3) continue;  // the accumulator is kept as it is
      for (int64_t e = 0; e < d; ++e) EXPECT_TRUE(std::isnan(out[r * d + e])) << "row " << r;
    }
  }
}

}  // namespace
}  // namespace magi
