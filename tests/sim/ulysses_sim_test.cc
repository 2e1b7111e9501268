#include <gtest/gtest.h>

#include "magi/sim.h"
#include "sim/sim_testing.h"

namespace magi::sim {
namespace {

using testing::toy_cluster;
using testing::toy_shape;

TEST(UlyssesSim, HandWorkedTwoRanks) {
  const std::vector<AttnSlice> full = {{{0, 4}, {0, 4}, AttnMaskType::kFull}};
  // 2 heads, cp 2: per peer q 2 bytes (2 rows x 1 head), k+v 4 bytes, out 2 bytes.
  const MethodResult r = simulate_ulysses(full, 4, toy_cluster(1, 2), toy_shape(2));
  ASSERT_TRUE(r.feasible) << r.note;
  // a2a(q, k, v): 0.5 + 6/4; 16 cells on 1 of 2 heads: 16 s; a2a(out): 0.5 + 2/4.
  EXPECT_NEAR(r.fwd_s, 2.0 + 16.0 + 1.0, 1e-9);
  // a2a(dout): 1; backward kernel 16 s; a2a(dq, dk, dv): 2.
  EXPECT_NEAR(r.bwd_s, 1.0 + 16.0 + 2.0, 1e-9);
  EXPECT_DOUBLE_EQ(r.intra_bytes, 2 * (2 + 4 + 2));
  EXPECT_NEAR(r.fwd_tflops, 16 * 8 / 19.0 / 2 * 1e-12, 1e-20);
}

TEST(UlyssesSim, HeadCountsDecideFeasibility) {
  const std::vector<AttnSlice> causal = {{{0, 64}, {0, 64}, AttnMaskType::kCausal}};
  AttnShape s;  // 64:8
  ClusterDesc c;
  c.gpus_per_node = 16;  // cp 16: kv heads replicated to 2 ranks each
  MethodResult r = simulate_ulysses(causal, 64, c, s);
  EXPECT_TRUE(r.feasible);
  EXPECT_EQ(r.note, "kv heads replicated to cp / heads_kv ranks");
  c.gpus_per_node = 8;
  c.nodes = 16;  // cp 128 > 64 query heads
  r = simulate_ulysses(causal, 64 * 128, c, s);
  EXPECT_FALSE(r.feasible);
  EXPECT_NE(r.note.find("cp = 128, heads 64:8"), std::string::npos) << r.note;
  s.heads_q = 48;
  s.heads_kv = 6;
  c.nodes = 1;
  c.gpus_per_node = 4;  // 4 | 48 but 6 and 4 do not divide each other
  EXPECT_FALSE(simulate_ulysses(causal, 64, c, s).feasible);
}

TEST(UlyssesSim, InterNodeTrafficGrowsWithNodes) {
  const std::vector<AttnSlice> full = {{{0, 8192}, {0, 8192}, AttnMaskType::kFull}};
  ClusterDesc one, two;
  one.gpus_per_node = 8;
  two.gpus_per_node = 4;
  two.nodes = 2;
  const MethodResult a = simulate_ulysses(full, 8192, one, {});
  const MethodResult b = simulate_ulysses(full, 8192, two, {});
  EXPECT_DOUBLE_EQ(a.inter_bytes, 0);
  EXPECT_GT(b.inter_bytes, 0);
  EXPECT_DOUBLE_EQ(a.inter_bytes + a.intra_bytes, b.inter_bytes + b.intra_bytes);
  EXPECT_GT(b.fwd_s, a.fwd_s);  // the NIC is slower than NVLink
}

}  // namespace
}  // namespace magi::sim
