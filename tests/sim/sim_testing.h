// A toy cluster and shape whose figures make the simulators' answers easy to work out by hand:
// one cell costs 1 s forward and 1 s backward, a K/V (or dK/dV) row is 2 bytes, intra- and
// inter-node links move 4 bytes/s, an exchange adds 0.5 s, local copies and calls are free.
#pragma once

#include "magi/sim.h"

namespace magi::sim::testing {

inline ClusterDesc toy_cluster(int64_t nodes, int64_t gpus_per_node) {
  ClusterDesc c;
  c.nodes = nodes;
  c.gpus_per_node = gpus_per_node;
  c.fwd_tflops = {4e-12, 4e-12, 4e-12, 4e-12};      // 4 FLOP/s: 1 cell/s at 4 FLOPs per cell
  c.bwd_tflops = {10e-12, 10e-12, 10e-12, 10e-12};  // 10 FLOP/s: 1 cell/s at 10 FLOPs per cell
  c.kernel_overhead_us = 0;
  c.intra_gbps = 4e-9;  // 4 bytes/s
  c.inter_gbps = 4e-9;
  c.latency_us = 0.5e6;
  c.mem_gbps = 1e9;  // copies take ~0
  return c;
}

inline AttnShape toy_shape(int64_t heads = 1) {
  AttnShape s;
  s.heads_q = s.heads_kv = heads;
  s.head_dim = 1;
  s.elem_bytes = s.acc_bytes = 1;
  return s;
}

}  // namespace magi::sim::testing
