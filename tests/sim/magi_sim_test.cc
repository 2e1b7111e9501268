#include <gtest/gtest.h>

#include <random>

#include "magi/check.h"
#include "magi/dispatch.h"
#include "magi/sim.h"
#include "sim/sim_testing.h"
#include "testing/random_mask.h"

namespace magi::sim {
namespace {

using testing::toy_cluster;
using testing::toy_shape;

// Full mask of 4 tokens on 2 ranks, chunk 2, sequential: rank r owns [2r, 2r + 2); each rank
// computes 4 host cells and 4 remote cells and fetches 2 rows (4 bytes: 1 s + 0.5 s latency).
Plan full4(int64_t degree) {
  const std::vector<AttnSlice> full = {{{0, 4}, {0, 4}, AttnMaskType::kFull}};
  OverlapConfig o;
  o.degree = degree;
  o.min_chunk_size = 2;
  return make_plan(full, solve_dispatch(full, 4, 2, 2, {DispatchAlgType::kSequential}), o);
}

TEST(MagiSim, HandWorkedTwoRanks) {
  const Plan plan = full4(1);
  const MethodResult r = simulate_magi(plan, nullptr, toy_cluster(1, 2), toy_shape());
  // Forward: host 4 s; the fetch (ready at 0) ends at 1.5 s; stage kernel 4 s -> 8 s.
  EXPECT_NEAR(r.fwd_s, 8.0, 1e-6);
  // Backward: host 4 s, stage 4 s -> 8 s; dK/dV (4 bytes) leave at 8 s and take 1.5 s.
  EXPECT_NEAR(r.bwd_s, 9.5, 1e-6);
  EXPECT_NEAR(r.fwd_compute_s, 8.0, 1e-6);
  // 16 cells * 4 FLOPs / 8 s / 2 ranks = 4 FLOP/s.
  EXPECT_NEAR(r.fwd_tflops, 4e-12, 1e-18);
  EXPECT_NEAR(r.bwd_tflops, 16 * 10 / 9.5 / 2 * 1e-12, 1e-18);
  ASSERT_EQ(r.ranks.size(), 2u);
  EXPECT_NEAR(r.ranks[1].host_fwd_s, 4.0, 1e-9);
  EXPECT_NEAR(r.ranks[1].fwd_s.at(0), 4.0, 1e-6);
  EXPECT_NEAR(r.ranks[1].fetch_s.at(0), 1.0, 1e-9);  // link time without latency
  EXPECT_NEAR(r.ranks[1].reduce_s.at(0), 1.0, 1e-9);
  EXPECT_NEAR(r.ranks[0].fwd_wait_s, 0.0, 1e-9);
  EXPECT_DOUBLE_EQ(r.intra_bytes, 8.0);  // 2 ranks x 2 rows x 2 bytes
  EXPECT_DOUBLE_EQ(r.inter_bytes, 0.0);
}

TEST(MagiSim, HandWorkedSlowLinkAndLocalGroup) {
  const Plan plan = full4(1);
  ClusterDesc c = toy_cluster(1, 2);
  c.intra_gbps = 0.4e-9;  // 4 bytes take 10 s
  MethodResult r = simulate_magi(plan, nullptr, c, toy_shape());
  EXPECT_NEAR(r.fwd_s, 10.5 + 4.0, 1e-6);
  EXPECT_NEAR(r.ranks[0].fwd_wait_s, 6.5, 1e-6);
  // Between nodes the inter-node rate applies.
  c = toy_cluster(2, 1);
  c.inter_gbps = 0.4e-9;
  r = simulate_magi(plan, nullptr, c, toy_shape());
  EXPECT_NEAR(r.fwd_s, 14.5, 1e-6);
  EXPECT_DOUBLE_EQ(r.inter_bytes, 8.0);
  // LocalGroup: the fetch starts when both ranks reach the wait (4 s).
  c = toy_cluster(1, 2);
  c.async_comm = false;
  r = simulate_magi(plan, nullptr, c, toy_shape());
  EXPECT_NEAR(r.fwd_s, 4.0 + 1.5 + 4.0, 1e-6);
  EXPECT_NEAR(r.bwd_s, 4.0 + 1.5 + 4.0 + 1.5, 1e-6);
}

TEST(MagiSim, HandWorkedDegreeZero) {
  // One fetch (1.5 s), then one kernel over all 8 cells of the rank.
  const MethodResult r = simulate_magi(full4(0), nullptr, toy_cluster(1, 2), toy_shape());
  EXPECT_NEAR(r.fwd_s, 1.5 + 8.0, 1e-6);
  EXPECT_NEAR(r.bwd_s, 1.5 + 8.0 + 1.5, 1e-6);
}

TEST(MagiSim, BalancedFullMaskOnFreeLinksRunsAtTheKernelRate) {
  const std::vector<AttnSlice> full = {{{0, 4096}, {0, 4096}, AttnMaskType::kFull}};
  OverlapConfig o;
  o.degree = 2;
  const Plan plan = make_plan(full, solve_dispatch(full, 4096, 256, 4, {}), o);
  ClusterDesc c;
  c.gpus_per_node = 4;
  c.kernel_overhead_us = c.latency_us = 0;
  c.intra_gbps = c.inter_gbps = c.mem_gbps = 1e12;
  const MethodResult r = simulate_magi(plan, nullptr, c, {});
  EXPECT_NEAR(r.fwd_tflops, c.fwd_tflops[0], 1e-3);
  EXPECT_NEAR(r.bwd_tflops, c.bwd_tflops[0], 1e-3);
}

TEST(MagiSim, HierarchicalHelpsWhenTheInterNodeLinkIsSlow) {
  const std::vector<AttnSlice> full = {{{0, 4096}, {0, 4096}, AttnMaskType::kFull}};
  OverlapConfig o;
  o.degree = 2;
  const Plan plan = make_plan(full, solve_dispatch(full, 4096, 128, 8, {}), o);
  ClusterDesc c;
  c.nodes = 2;
  c.gpus_per_node = 4;
  c.inter_gbps = 1;  // a slow network: communication dominates
  const HierPlan h = make_hier_plan(plan, c.mesh());
  const MethodResult flat = simulate_magi(plan, nullptr, c, {});
  const MethodResult hier = simulate_magi(plan, &h, c, {});
  EXPECT_EQ(hier.method, "magi_hier");
  EXPECT_DOUBLE_EQ(hier.inter_bytes * 4, flat.inter_bytes);
  EXPECT_LT(hier.fwd_s, flat.fwd_s);
  EXPECT_LT(hier.bwd_s, flat.bwd_s);
  EXPECT_THROW(simulate_magi(plan, &h, toy_cluster(4, 2), {}), Error);  // mesh differs
}

TEST(MagiSim, MonotoneInRatesBandwidthAndLatency) {
  std::mt19937_64 rng(5);
  for (int iter = 0; iter < 40; ++iter) {
    const int64_t cp = 4, chunk = 16, total = 256;
    const auto slices = rng() % 2 ? magi::testing::random_slices(rng, total, total, 6)
                                  : magi::testing::random_varlen_slices(rng, total, 6);
    OverlapConfig o;
    o.degree = static_cast<int64_t>(rng() % 4);
    o.min_chunk_size = 8;
    const Plan plan = make_plan(slices, solve_dispatch(slices, total, chunk, cp, {}), o);
    ClusterDesc base;
    base.nodes = 2;
    base.gpus_per_node = 2;
    base.fwd_tflops = {1e-6, 1e-6, 1e-6, 1e-6};
    base.bwd_tflops = {1e-6, 1e-6, 1e-6, 1e-6};
    base.intra_gbps = 1e-6;
    base.inter_gbps = 1e-7;
    base.latency_us = 1;
    for (bool async : {true, false}) {
      base.async_comm = async;
      const MethodResult b = simulate_magi(plan, nullptr, base, toy_shape(2));
      ClusterDesc faster = base;
      faster.fwd_tflops = {2e-6, 2e-6, 2e-6, 2e-6};
      faster.bwd_tflops = {2e-6, 2e-6, 2e-6, 2e-6};
      ClusterDesc wider = base;
      wider.intra_gbps *= 2;
      wider.inter_gbps *= 2;
      ClusterDesc slower = base;
      slower.latency_us = 1000;
      for (const ClusterDesc& better : {faster, wider}) {
        const MethodResult m = simulate_magi(plan, nullptr, better, toy_shape(2));
        EXPECT_LE(m.fwd_s, b.fwd_s * (1 + 1e-12));
        EXPECT_LE(m.bwd_s, b.bwd_s * (1 + 1e-12));
      }
      const MethodResult m = simulate_magi(plan, nullptr, slower, toy_shape(2));
      EXPECT_GE(m.fwd_s, b.fwd_s);
      EXPECT_GE(m.bwd_s, b.bwd_s);
      // Never faster than the kernels alone, never above the kernel rate.
      EXPECT_GE(b.fwd_s, b.fwd_compute_s);
      EXPECT_LE(b.fwd_tflops, 1e-6 * (1 + 1e-9));
      EXPECT_LE(b.bwd_tflops, 1e-6 * (1 + 1e-9));
    }
  }
}

TEST(MagiSim, BadInputNamesTheValues) {
  const Plan plan = full4(1);
  try {
    simulate_magi(plan, nullptr, toy_cluster(1, 4), toy_shape());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("= 4 GPUs, but the plan's cp_size = 2"), std::string::npos)
        << e.what();
  }
  const std::vector<AttnSlice> full = {{{0, 4}, {0, 4}, AttnMaskType::kFull}};
  const Plan one = make_rank_plan(full, plan.dispatch, {}, 0);
  EXPECT_THROW(simulate_magi(one, nullptr, toy_cluster(1, 2), toy_shape()), Error);
}

}  // namespace
}  // namespace magi::sim
