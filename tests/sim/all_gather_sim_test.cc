#include <gtest/gtest.h>

#include "magi/sim.h"
#include "sim/sim_testing.h"

namespace magi::sim {
namespace {

using testing::toy_cluster;
using testing::toy_shape;

TEST(AllGatherSim, HandWorkedTwoRanks) {
  const std::vector<AttnSlice> full = {{{0, 4}, {0, 4}, AttnMaskType::kFull}};
  const MethodResult r =
      simulate_all_gather(full, 4, RingLayout::kContiguous, toy_cluster(1, 2), toy_shape());
  // Gather one shard (4 bytes): 1.5 s; 8 cells: 8 s; reduce-scatter dK/dV: 1.5 s.
  EXPECT_NEAR(r.fwd_s, 1.5 + 8.0, 1e-9);
  EXPECT_NEAR(r.bwd_s, 1.5 + 8.0 + 1.5, 1e-9);
  EXPECT_DOUBLE_EQ(r.intra_bytes, 8.0);
}

TEST(AllGatherSim, ZigzagBalancesCausalCompute) {
  const std::vector<AttnSlice> causal = {{{0, 1024}, {0, 1024}, AttnMaskType::kCausal}};
  ClusterDesc c;
  c.gpus_per_node = 4;
  c.kernel_overhead_us = 0;  // compare the cells alone
  const MethodResult a = simulate_all_gather(causal, 1024, RingLayout::kContiguous, c, {});
  const MethodResult b = simulate_all_gather(causal, 1024, RingLayout::kZigzag, c, {});
  EXPECT_GT(a.fwd_compute_s, 1.5 * b.fwd_compute_s);
  EXPECT_GT(b.fwd_tflops, a.fwd_tflops);
}

}  // namespace
}  // namespace magi::sim
