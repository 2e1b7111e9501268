// The sink's per-row arithmetic (src/kernels/cpu/sink_merge.h): exact values and every
// non-finite case of its contract.
#include "kernels/cpu/sink_merge.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace magi::cpu {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr float kInfF = std::numeric_limits<float>::infinity();
constexpr float kNaNF = std::numeric_limits<float>::quiet_NaN();

TEST(SinkLse, LogSumExpWithStride) {
  const float logits[] = {0.5f, 99.f, -1.0f, 99.f, 2.0f};  // stride 2: 0.5, -1, 2
  const double want = std::log(std::exp(0.5) + std::exp(-1.0) + std::exp(2.0));
  EXPECT_NEAR(sink_lse(logits, 3, 2), want, 1e-12);
  EXPECT_DOUBLE_EQ(sink_lse(logits, 1, 2), 0.5);
}

TEST(SinkLse, MinusInfinityIsNoSinkAndNaNOrPlusInfIsNaN) {
  const float none[] = {-kInfF, -kInfF};
  EXPECT_EQ(sink_lse(none, 2, 1), -kInf);
  const float some[] = {-kInfF, 1.0f};
  EXPECT_DOUBLE_EQ(sink_lse(some, 2, 1), 1.0);
  const float nan[] = {1.0f, kNaNF};
  EXPECT_TRUE(std::isnan(sink_lse(nan, 2, 1)));
  const float pinf[] = {kInfF, 1.0f};
  EXPECT_TRUE(std::isnan(sink_lse(pinf, 2, 1)));
}

TEST(SinkMerge, AddsTheSinkToTheDenominator) {
  const double lse = 1.5, ls = 0.25;
  const SinkMerge m = sink_merge(lse, ls);
  const double want = std::log(std::exp(lse) + std::exp(ls));
  EXPECT_NEAR(m.lse, want, 1e-14);
  EXPECT_NEAR(m.w, std::exp(lse) / (std::exp(lse) + std::exp(ls)), 1e-14);
  // Far apart: no overflow, weight underflows gracefully.
  const SinkMerge far = sink_merge(-800.0, 800.0);
  EXPECT_DOUBLE_EQ(far.lse, 800.0);
  EXPECT_EQ(far.w, 0.0);
}

TEST(SinkMerge, NonFiniteCases) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // No sink: the row as it is, NaN included.
  EXPECT_EQ(sink_merge(2.0, -kInf).lse, 2.0);
  EXPECT_EQ(sink_merge(2.0, -kInf).w, 1.0);
  EXPECT_TRUE(std::isnan(sink_merge(nan, -kInf).lse));
  EXPECT_EQ(sink_merge(-kInf, -kInf).lse, -kInf);
  // No key: only the sinks, out becomes 0.
  EXPECT_EQ(sink_merge(-kInf, 0.5).lse, 0.5);
  EXPECT_EQ(sink_merge(-kInf, 0.5).w, 0.0);
  // A NaN row stays NaN; a NaN sink makes the row NaN.
  EXPECT_TRUE(std::isnan(sink_merge(nan, 0.5).lse));
  EXPECT_TRUE(std::isnan(sink_merge(nan, 0.5).w));
  EXPECT_TRUE(std::isnan(sink_merge(kInf, 0.5).lse));
  EXPECT_TRUE(std::isnan(sink_merge(1.0, nan).lse));
  EXPECT_TRUE(std::isnan(sink_merge(-kInf, nan).w));
}

}  // namespace
}  // namespace magi::cpu
