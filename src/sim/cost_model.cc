#include "sim/cost_model.h"

#include <algorithm>

#include "mask/band.h"

namespace magi::sim::detail {

int64_t total(const TypedCells& c) { return c[0] + c[1] + c[2] + c[3]; }

void add_cells(std::span<const AttnSlice> slices, TypedCells& out) {
  for (const AttnSlice& s : slices) out[static_cast<int>(s.type)] += s.area();
}

void add_box_cells(const AttnSlice& s, AttnRange rows, AttnRange cols, TypedCells& out) {
  const mask::Band b = mask::Band::from_slice(s).with_rows(rows).with_cols(cols).trimmed();
  if (b.empty()) return;
  const bool upper = b.dhi != mask::kNoBound, lower = b.dlo != -mask::kNoBound;
  const AttnMaskType t = upper && lower ? AttnMaskType::kBiCausal
                         : upper        ? AttnMaskType::kCausal
                         : lower        ? AttnMaskType::kInvCausal
                                        : AttnMaskType::kFull;
  out[static_cast<int>(t)] += b.area();
}

double kernel_s(const TypedCells& cells, Pass pass, const ClusterDesc& c, const AttnShape& shape,
                int64_t rows, int64_t head_split) {
  if (total(cells) == 0) return 0;
  const double per_cell =
      (pass == Pass::kFwd ? shape.fwd_flops_per_cell() : shape.bwd_flops_per_cell()) /
      static_cast<double>(head_split);
  const auto& rate = pass == Pass::kFwd ? c.fwd_tflops : c.bwd_tflops;
  const double row_ns = pass == Pass::kFwd ? c.fwd_row_ns : c.bwd_row_ns;
  double s = c.kernel_overhead_us * 1e-6 +
             static_cast<double>(rows) * row_ns * 1e-9 / static_cast<double>(head_split);
  for (int t = 0; t < 4; ++t) s += static_cast<double>(cells[t]) * per_cell / (rate[t] * 1e12);
  return s;
}

double link_s(const Traffic& t, const ClusterDesc& c) {
  const double intra = std::max(t.send_intra, t.recv_intra) / (c.intra_gbps * 1e9);
  const double inter = std::max(t.send_inter, t.recv_inter) / (c.inter_gbps * 1e9);
  return std::max(intra, inter);
}

double copy_s(double bytes, const ClusterDesc& c) { return bytes / (c.mem_gbps * 1e9); }

double Channel::run(double ready, double duration) {
  free_at_ = std::max(free_at_, ready) + duration;
  return free_at_;
}

}  // namespace magi::sim::detail
