#include <gtest/gtest.h>

#include "magi/sim.h"
#include "sim/sim_testing.h"

namespace magi::sim {
namespace {

using testing::toy_cluster;
using testing::toy_shape;

const std::vector<AttnSlice> kFull4 = {{{0, 4}, {0, 4}, AttnMaskType::kFull}};

TEST(RingSim, HandWorkedTwoRanks) {
  // Each step: 4 cells (4 s); a block is 2 rows = 4 bytes: 1 s + 0.5 s per hop.
  const MethodResult r =
      simulate_ring(kFull4, 4, RingLayout::kContiguous, toy_cluster(1, 2), toy_shape());
  // Forward: step 0 (4 s) hides the block's hop (1.5 s); step 1: 4 s.
  EXPECT_NEAR(r.fwd_s, 8.0, 1e-9);
  // Backward: K/V leave at 0 (arrive 1.5); dK/dV leave after step 0 (4 s), arrive at 5.5;
  // step 1 runs 5.5..9.5; the accumulator goes home: 11.
  EXPECT_NEAR(r.bwd_s, 11.0, 1e-9);
  EXPECT_NEAR(r.fwd_compute_s, 8.0, 1e-9);
  EXPECT_NEAR(r.fwd_tflops, 16 * 4 / 8.0 / 2 * 1e-12, 1e-20);
  EXPECT_DOUBLE_EQ(r.intra_bytes, 8.0);
  // Across two nodes the same bytes count as inter-node.
  const MethodResult x =
      simulate_ring(kFull4, 4, RingLayout::kContiguous, toy_cluster(2, 1), toy_shape());
  EXPECT_DOUBLE_EQ(x.inter_bytes, 8.0);
  EXPECT_NEAR(x.fwd_s, 8.0, 1e-9);
}

TEST(RingSim, CommBoundSteps) {
  ClusterDesc c = toy_cluster(1, 2);
  c.intra_gbps = 0.4e-9;  // a hop of 4 bytes: 10.5 s
  const MethodResult r = simulate_ring(kFull4, 4, RingLayout::kContiguous, c, toy_shape());
  EXPECT_NEAR(r.fwd_s, 10.5 + 4.0, 1e-9);
}

TEST(RingSim, ZigzagBalancesCausal) {
  const std::vector<AttnSlice> causal = {{{0, 1024}, {0, 1024}, AttnMaskType::kCausal}};
  ClusterDesc c;
  c.gpus_per_node = 4;
  c.kernel_overhead_us = 0;  // compare the cells alone
  const MethodResult contiguous = simulate_ring(causal, 1024, RingLayout::kContiguous, c, {});
  const MethodResult zigzag = simulate_ring(causal, 1024, RingLayout::kZigzag, c, {});
  // Contiguous: the last rank has 7/16 of the cells; zigzag: every rank 1/4.
  EXPECT_NEAR(contiguous.fwd_compute_s / zigzag.fwd_compute_s, (7.0 / 16) / 0.25, 0.02);
  EXPECT_LT(zigzag.fwd_s, contiguous.fwd_s);
  EXPECT_EQ(zigzag.note, "zigzag layout");
}

TEST(RingSim, MonotoneInBandwidth) {
  const std::vector<AttnSlice> causal = {{{0, 2048}, {0, 2048}, AttnMaskType::kCausal}};
  ClusterDesc c;
  c.nodes = 2;
  c.gpus_per_node = 2;
  c.inter_gbps = 0.5;
  double last_fwd = 1e30, last_bwd = 1e30;
  for (double bw : {0.5, 1.0, 4.0, 50.0, 1000.0}) {
    c.inter_gbps = bw;
    const MethodResult r = simulate_ring(causal, 2048, RingLayout::kZigzag, c, {});
    EXPECT_LE(r.fwd_s, last_fwd);
    EXPECT_LE(r.bwd_s, last_bwd);
    EXPECT_GE(r.fwd_s, r.fwd_compute_s);
    last_fwd = r.fwd_s;
    last_bwd = r.bwd_s;
  }
}

}  // namespace
}  // namespace magi::sim
