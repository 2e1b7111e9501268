// simulate_all_gather: gather every rank's K/V, compute, reduce-scatter dK/dV; no overlap.
#include <algorithm>

#include "magi/sim.h"
#include "sim/block_cells.h"

namespace magi::sim {

MethodResult simulate_all_gather(std::span<const AttnSlice> slices, int64_t total_seqlen,
                                 RingLayout layout, const ClusterDesc& c, const AttnShape& shape) {
  c.validate();
  shape.validate();
  const int64_t cp = c.size();
  const detail::BlockCells bc(slices, total_seqlen, layout, cp);
  MethodResult res;
  res.method = "all_gather";
  res.note = layout == RingLayout::kZigzag ? "zigzag layout" : "contiguous layout";
  // A ring all-gather (reduce-scatter) moves cp - 1 shards through every GPU's slowest link.
  const double shard = static_cast<double>(total_seqlen) / static_cast<double>(cp);
  const double bw = (c.nodes > 1 ? c.inter_gbps : c.intra_gbps) * 1e9;
  auto ring_s = [&](double row_bytes) {
    if (cp == 1) return 0.0;
    return c.latency_us * 1e-6 + static_cast<double>(cp - 1) * shard * row_bytes / bw;
  };
  const double kv = static_cast<double>(shape.kv_row_bytes());
  const double dkv = static_cast<double>(shape.dkv_row_bytes());
  int64_t cells = 0;
  for (int64_t r = 0; r < cp; ++r) {
    const detail::TypedCells tc = bc.row_cells(r);
    cells += detail::total(tc);
    const int64_t rows = bc.num_rows(r) + total_seqlen;
    res.fwd_compute_s =
        std::max(res.fwd_compute_s, detail::kernel_s(tc, detail::Pass::kFwd, c, shape, rows));
    res.bwd_compute_s =
        std::max(res.bwd_compute_s, detail::kernel_s(tc, detail::Pass::kBwd, c, shape, rows));
  }
  res.fwd_s = ring_s(kv) + res.fwd_compute_s;
  res.bwd_s = ring_s(kv) + res.bwd_compute_s + ring_s(dkv);
  const double moved = static_cast<double>(cp) * static_cast<double>(cp - 1) * shard * kv;
  // Ring neighbours: one hop in gpus_per_node crosses nodes when there are several nodes.
  const double inter_share = c.nodes > 1 ? 1.0 / static_cast<double>(c.gpus_per_node) : 0.0;
  res.inter_bytes = moved * inter_share;
  res.intra_bytes = moved * (1 - inter_share);
  const double flops = static_cast<double>(cells) * shape.fwd_flops_per_cell();
  if (res.fwd_s > 0) res.fwd_tflops = flops / res.fwd_s / static_cast<double>(cp) / 1e12;
  if (res.bwd_s > 0) res.bwd_tflops = 2.5 * flops / res.bwd_s / static_cast<double>(cp) / 1e12;
  return res;
}

}  // namespace magi::sim
