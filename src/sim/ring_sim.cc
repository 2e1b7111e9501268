// simulate_ring: ring attention (P2P around the ring, compute overlapped with the next block's
// transfer) under the cost model.
#include <algorithm>

#include "magi/sim.h"
#include "sim/block_cells.h"

namespace magi::sim {

MethodResult simulate_ring(std::span<const AttnSlice> slices, int64_t total_seqlen,
                           RingLayout layout, const ClusterDesc& c, const AttnShape& shape) {
  c.validate();
  shape.validate();
  const int64_t cp = c.size();
  const detail::BlockCells bc(slices, total_seqlen, layout, cp);
  const double kv = static_cast<double>(shape.kv_row_bytes());
  const double dkv = static_cast<double>(shape.dkv_row_bytes());
  const double lat = c.latency_us * 1e-6;
  auto hop_s = [&](int64_t from, double bytes) {
    const bool same = c.node(from) == c.node((from + 1) % cp);
    return lat + bytes / ((same ? c.intra_gbps : c.inter_gbps) * 1e9);
  };
  // The block rank r holds in step k started on rank r - k.
  auto src = [&](int64_t r, int64_t k) { return ((r - k) % cp + cp) % cp; };

  MethodResult res;
  res.method = "ring";
  res.note = layout == RingLayout::kZigzag ? "zigzag layout" : "contiguous layout";
  std::vector<double> start_f(cp, 0), start_b(cp, 0), free_f(cp, 0), free_b(cp, 0);
  std::vector<double> arrive_f(cp), arrive_b(cp), comp_f(cp), comp_b(cp), end_b(cp, 0);
  std::vector<double> total_f(cp, 0), total_b(cp, 0);
  int64_t cells = 0;
  for (int64_t k = 0; k < cp; ++k) {
    for (int64_t r = 0; r < cp; ++r) {
      const detail::TypedCells tc = bc.cells(r, src(r, k));
      cells += detail::total(tc);
      const int64_t rows = bc.num_rows(r) + bc.num_rows(src(r, k));
      comp_f[r] = detail::kernel_s(tc, detail::Pass::kFwd, c, shape, rows);
      comp_b[r] = detail::kernel_s(tc, detail::Pass::kBwd, c, shape, rows);
      total_f[r] += comp_f[r];
      total_b[r] += comp_b[r];
    }
    for (int64_t r = 0; r < cp; ++r) {
      const int64_t to = (r + 1) % cp;
      const double kv_bytes = static_cast<double>(bc.num_rows(src(r, k))) * kv;
      const double dkv_bytes = static_cast<double>(bc.num_rows(src(r, k))) * dkv;
      // Forward: the block leaves at the start of the step.
      if (k + 1 < cp) {
        const double t0 = std::max(start_f[r], free_f[r]);
        free_f[r] = t0 + hop_s(r, kv_bytes);
        arrive_f[to] = free_f[r];
        (c.node(r) == c.node(to) ? res.intra_bytes : res.inter_bytes) += kv_bytes;
      }
      // Backward: K/V leave at the start, their dK/dV accumulator after the step's kernel;
      // after the last step the accumulator makes one more hop, home.
      const double t1 = std::max(start_b[r], free_b[r]);
      if (k + 1 < cp) free_b[r] = t1 + hop_s(r, kv_bytes);
      const double done = start_b[r] + comp_b[r];
      const double t2 = std::max(done, free_b[r]);
      free_b[r] = cp > 1 ? t2 + hop_s(r, dkv_bytes) : done;
      arrive_b[to] = free_b[r];
      end_b[to] = std::max(end_b[to], arrive_b[to]);
      end_b[r] = std::max(end_b[r], done);
    }
    for (int64_t r = 0; r < cp; ++r) {
      if (k + 1 < cp) {
        start_f[r] = std::max(start_f[r] + comp_f[r], arrive_f[r]);
        start_b[r] = std::max(start_b[r] + comp_b[r], arrive_b[r]);
      } else {
        res.fwd_s = std::max(res.fwd_s, start_f[r] + comp_f[r]);
      }
    }
  }
  for (int64_t r = 0; r < cp; ++r) {
    res.bwd_s = std::max(res.bwd_s, end_b[r]);
    res.fwd_compute_s = std::max(res.fwd_compute_s, total_f[r]);
    res.bwd_compute_s = std::max(res.bwd_compute_s, total_b[r]);
  }
  const double flops = static_cast<double>(cells) * shape.fwd_flops_per_cell();
  if (res.fwd_s > 0) res.fwd_tflops = flops / res.fwd_s / static_cast<double>(cp) / 1e12;
  if (res.bwd_s > 0) res.bwd_tflops = 2.5 * flops / res.bwd_s / static_cast<double>(cp) / 1e12;
  return res;
}

}  // namespace magi::sim
