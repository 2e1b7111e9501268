// Validation of the simulator's value types, and the FLOP count every method is credited with.
#include <cmath>

#include "magi/check.h"
#include "magi/sim.h"

namespace magi::sim {
namespace {

void check_positive(double v, const char* name) {
  MAGI_CHECK(std::isfinite(v) && v > 0, name, " = ", v, ": must be a finite number > 0");
}

}  // namespace

void ClusterDesc::validate() const {
  MAGI_CHECK(gpus_per_node >= 1, "gpus_per_node = ", gpus_per_node, ": must be >= 1");
  MAGI_CHECK(nodes >= 1, "nodes = ", nodes, ": must be >= 1");
  static const char* kFwd[4] = {"fwd_tflops[full]", "fwd_tflops[causal]", "fwd_tflops[inv_causal]",
                                "fwd_tflops[bi_causal]"};
  static const char* kBwd[4] = {"bwd_tflops[full]", "bwd_tflops[causal]", "bwd_tflops[inv_causal]",
                                "bwd_tflops[bi_causal]"};
  for (int t = 0; t < 4; ++t) {
    check_positive(fwd_tflops[t], kFwd[t]);
    check_positive(bwd_tflops[t], kBwd[t]);
  }
  check_positive(intra_gbps, "intra_gbps");
  check_positive(inter_gbps, "inter_gbps");
  check_positive(mem_gbps, "mem_gbps");
  MAGI_CHECK(std::isfinite(kernel_overhead_us) && kernel_overhead_us >= 0,
             "kernel_overhead_us = ", kernel_overhead_us, ": must be >= 0");
  MAGI_CHECK(std::isfinite(fwd_row_ns) && fwd_row_ns >= 0, "fwd_row_ns = ", fwd_row_ns,
             ": must be >= 0");
  MAGI_CHECK(std::isfinite(bwd_row_ns) && bwd_row_ns >= 0, "bwd_row_ns = ", bwd_row_ns,
             ": must be >= 0");
  MAGI_CHECK(std::isfinite(latency_us) && latency_us >= 0, "latency_us = ", latency_us,
             ": must be >= 0");
}

void AttnShape::validate() const {
  MAGI_CHECK(heads_q >= 1, "heads_q = ", heads_q, ": must be >= 1");
  MAGI_CHECK(heads_kv >= 1 && heads_q % heads_kv == 0, "heads_kv = ", heads_kv,
             ": must be >= 1 and divide heads_q = ", heads_q);
  MAGI_CHECK(head_dim >= 1, "head_dim = ", head_dim, ": must be >= 1");
  MAGI_CHECK(elem_bytes >= 1, "elem_bytes = ", elem_bytes, ": must be >= 1");
  MAGI_CHECK(acc_bytes >= 1, "acc_bytes = ", acc_bytes, ": must be >= 1");
}

int64_t mask_cells(std::span<const AttnSlice> slices) { return union_area(slices); }

}  // namespace magi::sim
