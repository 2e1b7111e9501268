#include "sim/cost_model.h"

#include <gtest/gtest.h>

#include "magi/check.h"

namespace magi::sim::detail {
namespace {

TEST(CostModel, KernelTimeByTypeAndOverhead) {
  ClusterDesc c;
  c.fwd_tflops = {1e-6, 2e-6, 4e-6, 8e-6};  // 1e6, 2e6, 4e6, 8e6 FLOP/s
  c.bwd_tflops = {1e-6, 1e-6, 1e-6, 1e-6};
  c.kernel_overhead_us = 0;
  AttnShape s;
  s.heads_q = s.heads_kv = 1;
  s.head_dim = 1;  // 4 FLOPs per cell forward, 10 backward
  EXPECT_DOUBLE_EQ(kernel_s({1'000'000, 0, 0, 0}, Pass::kFwd, c, s, 100), 4.0);
  EXPECT_DOUBLE_EQ(kernel_s({0, 1'000'000, 1'000'000, 2'000'000}, Pass::kFwd, c, s, 100),
                   2.0 + 1.0 + 1.0);
  EXPECT_DOUBLE_EQ(kernel_s({1'000'000, 0, 0, 0}, Pass::kBwd, c, s, 100), 10.0);
  EXPECT_DOUBLE_EQ(kernel_s({1'000'000, 0, 0, 0}, Pass::kFwd, c, s, 100, 4), 1.0);  // 1/4 heads
  c.kernel_overhead_us = 2e6;
  c.fwd_row_ns = 1e7;  // 0.01 s per row
  c.bwd_row_ns = 2e7;
  EXPECT_DOUBLE_EQ(kernel_s({1'000'000, 0, 0, 0}, Pass::kFwd, c, s, 100), 4.0 + 2.0 + 1.0);
  EXPECT_DOUBLE_EQ(kernel_s({1'000'000, 0, 0, 0}, Pass::kBwd, c, s, 100), 10.0 + 2.0 + 2.0);
  EXPECT_DOUBLE_EQ(kernel_s({1'000'000, 0, 0, 0}, Pass::kFwd, c, s, 100, 4), 1.0 + 2.0 + 0.25);
  EXPECT_DOUBLE_EQ(kernel_s({0, 0, 0, 0}, Pass::kFwd, c, s, 100), 0.0);  // no call, no cost
}

TEST(CostModel, LinksRunConcurrentlyAndDirectionsSeparately) {
  ClusterDesc c;
  c.intra_gbps = 100;
  c.inter_gbps = 10;
  Traffic t;
  t.send_intra = 100e9;  // 1 s
  t.recv_intra = 50e9;
  t.send_inter = 5e9;  // 0.5 s
  EXPECT_DOUBLE_EQ(link_s(t, c), 1.0);
  t.recv_inter = 30e9;  // 3 s
  EXPECT_DOUBLE_EQ(link_s(t, c), 3.0);
  EXPECT_DOUBLE_EQ(link_s({}, c), 0.0);
  c.mem_gbps = 4;
  EXPECT_DOUBLE_EQ(copy_s(8e9, c), 2.0);
}

TEST(CostModel, BoxCellsAndTheirType) {
  const AttnSlice causal{{0, 4}, {0, 4}, AttnMaskType::kCausal};
  auto cells = [&](AttnRange rows, AttnRange cols) {
    TypedCells t{};
    add_box_cells(causal, rows, cols, t);
    return t;
  };
  EXPECT_EQ(cells({0, 4}, {0, 4}), (TypedCells{0, 10, 0, 0}));
  EXPECT_EQ(cells({2, 4}, {0, 2}), (TypedCells{4, 0, 0, 0}));  // below the diagonal: full
  EXPECT_EQ(cells({0, 4}, {0, 2}), (TypedCells{0, 7, 0, 0}));  // 1 + 2 + 2 + 2, bound binds
  EXPECT_EQ(cells({0, 2}, {2, 4}), (TypedCells{0, 0, 0, 0}));
  TypedCells t{};
  add_cells(std::vector<AttnSlice>{causal, {{0, 2}, {0, 3}, AttnMaskType::kFull}}, t);
  EXPECT_EQ(t, (TypedCells{6, 10, 0, 0}));
  EXPECT_EQ(total(t), 16);
}

TEST(CostModel, ChannelRunsExchangesInOrder) {
  Channel ch;
  EXPECT_DOUBLE_EQ(ch.run(0, 1), 1);
  EXPECT_DOUBLE_EQ(ch.run(0.5, 1), 2);  // waits for the previous exchange
  EXPECT_DOUBLE_EQ(ch.run(5, 1), 6);    // waits until it is ready
  EXPECT_DOUBLE_EQ(ch.run(0, 0), 6);
}

TEST(CostModel, BadDescriptionsNameTheField) {
  ClusterDesc c;
  c.inter_gbps = 0;
  try {
    c.validate();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("inter_gbps = 0: must be"), std::string::npos) << e.what();
  }
  c = {};
  c.bwd_tflops[1] = -3;
  EXPECT_THROW(c.validate(), Error);
  c = {};
  c.latency_us = -1;
  EXPECT_THROW(c.validate(), Error);
  c = {};
  c.bwd_row_ns = -1;
  EXPECT_THROW(c.validate(), Error);
  c = {};
  c.nodes = 0;
  EXPECT_THROW(c.validate(), Error);
  AttnShape s;
  s.heads_kv = 3;
  try {
    s.validate();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("heads_kv = 3: must be >= 1 and divide heads_q = 64"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace magi::sim::detail
