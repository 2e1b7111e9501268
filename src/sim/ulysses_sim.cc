// simulate_ulysses: all-to-all from sequence shards to head shards and back, no overlap.
#include <algorithm>

#include "magi/sim.h"
#include "sim/cost_model.h"

namespace magi::sim {

MethodResult simulate_ulysses(std::span<const AttnSlice> slices, int64_t total_seqlen,
                              const ClusterDesc& c, const AttnShape& shape) {
  c.validate();
  shape.validate();
  const int64_t cp = c.size(), hq = shape.heads_q, hkv = shape.heads_kv;
  MethodResult res;
  res.method = "ulysses";
  if (hq % cp != 0 || (hkv % cp != 0 && cp % hkv != 0)) {
    res.feasible = false;
    res.note =
        "needs cp | heads_q and (cp | heads_kv or heads_kv | cp); cp = " + std::to_string(cp) +
        ", heads " + std::to_string(hq) + ":" + std::to_string(hkv);
    return res;
  }
  const int64_t kv_heads = hkv % cp == 0 ? hkv / cp : 1;  // kv heads each rank works on
  res.note = hkv % cp == 0 ? "kv heads split" : "kv heads replicated to cp / heads_kv ranks";
  const double shard = static_cast<double>(total_seqlen) / static_cast<double>(cp);
  const double d = static_cast<double>(shape.head_dim), eb = static_cast<double>(shape.elem_bytes);
  // Bytes one rank sends to (and receives from) each other rank.
  const double q_bytes = shard * static_cast<double>(hq / cp) * d * eb;
  const double kv_bytes = shard * static_cast<double>(kv_heads) * 2 * d * eb;
  const double remote_intra = static_cast<double>(std::min(c.gpus_per_node, cp) - 1);
  const double remote_inter = static_cast<double>(cp - std::min(c.gpus_per_node, cp));
  auto a2a_s = [&](double per_peer) {
    if (cp == 1) return 0.0;
    detail::Traffic t;
    t.send_intra = t.recv_intra = per_peer * remote_intra;
    t.send_inter = t.recv_inter = per_peer * remote_inter;
    return c.latency_us * 1e-6 + detail::link_s(t, c);
  };
  detail::TypedCells tc{};
  detail::add_cells(make_disjoint(slices), tc);
  res.fwd_compute_s = detail::kernel_s(tc, detail::Pass::kFwd, c, shape, 2 * total_seqlen, cp);
  res.bwd_compute_s = detail::kernel_s(tc, detail::Pass::kBwd, c, shape, 2 * total_seqlen, cp);
  // Forward: q, k, v in; out back. Backward: dout in; dq, dk, dv back (replicated kv heads'
  // partial dk/dv are summed by their owners).
  res.fwd_s = a2a_s(q_bytes + kv_bytes) + res.fwd_compute_s + a2a_s(q_bytes);
  res.bwd_s = a2a_s(q_bytes) + res.bwd_compute_s + a2a_s(q_bytes + kv_bytes);
  const double per_peer = 2 * q_bytes + kv_bytes, ranks = static_cast<double>(cp);
  res.intra_bytes = ranks * per_peer * remote_intra;
  res.inter_bytes = ranks * per_peer * remote_inter;
  const double flops = static_cast<double>(detail::total(tc)) * shape.fwd_flops_per_cell();
  if (res.fwd_s > 0) res.fwd_tflops = flops / res.fwd_s / ranks / 1e12;
  if (res.bwd_s > 0) res.bwd_tflops = 2.5 * flops / res.bwd_s / ranks / 1e12;
  return res;
}

}  // namespace magi::sim
