// A cost model of context-parallel attention and a simulator over it: for a mask planned with
// the real dispatcher and planner, the predicted per-rank, per-stage compute and communication
// times and the per-GPU TFLOP/s of magi's plan, and of ring attention, Ulysses and all-gather
// attention under the same model. Pure host code: no device, no communication.
//
// The model (every figure comes from ClusterDesc and AttnShape):
//   kernel     time = sum over slices of cells * flops_per_cell / rate(slice type) + one call
//              overhead per kernel call + a cost per row the call spans (the q rows its slices
//              cover plus its k buffer's rows: packing, per-row softmax state; 0 by default, it
//              matters for the CPU kernels); forward 4 * Hq * D flops per cell, backward 2.5x.
//   link       each GPU has one intra-node link (NVLink) and one inter-node link (its NIC),
//              full duplex, used concurrently; a rank's share of an exchange takes
//              max(intra bytes / intra rate, inter bytes / inter rate), sending and receiving
//              counted separately (the larger wins).
//   exchange   a collective exchange (all_to_all_v) ends for every rank at the same time:
//              latency + the slowest rank's link time after it starts; it starts when every
//              rank has posted it (async_comm) or reached its wait (!async_comm: LocalGroup,
//              whose copies run on the ranks' own threads inside wait), and not before the
//              previous exchange ended (one communication channel, FIFO).
//   local copy range gathers / scatter-adds run on the compute stream at mem_gbps.
// What it leaves out: SMs taken by communication kernels (compute is not slowed while an
// exchange runs), link contention beyond one link per GPU per level, kernel efficiency that
// varies with slice sizes other than through the per-type rate, and host overheads.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "magi/hier_plan.h"
#include "magi/mask.h"
#include "magi/plan.h"

namespace magi::sim {

/// GPUs, their kernel rates and their links. Defaults: an H200 node of 8 GPUs; kernel rates
/// measured for magi's FFA kernels on one H200 (bench/results.json, the harness at ae1dcf7,
/// 2026-12-05: forward 607 full / 618 causal TFLOP/s, backward 543 full / 505 causal at S = 8k,
/// 64:8 heads, hd 128, bf16); link figures are
/// nominal hardware numbers (NVLink 4: 450 GB/s per direction, taken as 350 achievable; one
/// 400 Gb/s NIC per GPU: 50 GB/s, taken as 45), not measurements.
struct ClusterDesc {
  int64_t gpus_per_node = 8;
  int64_t nodes = 1;
  std::array<double, 4> fwd_tflops{607, 618, 618, 618};  // by AttnMaskType code
  std::array<double, 4> bwd_tflops{543, 505, 505, 505};
  double kernel_overhead_us = 5;  // per kernel call (launch and tail)
  double fwd_row_ns = 0;          // per q row + k row of a forward call (all heads)
  double bwd_row_ns = 0;          // the same for a backward call
  double intra_gbps = 350;        // GB/s per GPU per direction, inside a node
  double inter_gbps = 45;         // GB/s per GPU per direction, between nodes
  double latency_us = 20;         // per exchange (all_to_all_v, or one ring step's P2P)
  double mem_gbps = 2000;         // local range gathers / scatter-adds
  bool async_comm = true;         // false: LocalGroup semantics (see the file comment)

  int64_t size() const { return gpus_per_node * nodes; }
  int64_t node(int64_t rank) const { return rank / gpus_per_node; }
  CommMesh mesh() const { return {nodes, gpus_per_node}; }
  /// Throws, naming the field and the value, for a non-positive size, rate or bandwidth or a
  /// negative overhead / row cost / latency.
  void validate() const;
};

/// Heads, head dim and element sizes of one attention call.
struct AttnShape {
  int64_t heads_q = 64;
  int64_t heads_kv = 8;
  int64_t head_dim = 128;
  int64_t elem_bytes = 2;  // q, k, v, out (bf16)
  int64_t acc_bytes = 4;   // partial dK/dV sent home by magi and ring (fp32)

  double fwd_flops_per_cell() const { return 4.0 * heads_q * head_dim; }
  double bwd_flops_per_cell() const { return 2.5 * fwd_flops_per_cell(); }
  int64_t kv_row_bytes() const { return 2 * heads_kv * head_dim * elem_bytes; }
  int64_t dkv_row_bytes() const { return 2 * heads_kv * head_dim * acc_bytes; }
  /// Throws, naming the value, unless all are >= 1 and heads_q % heads_kv == 0.
  void validate() const;
};

/// One rank of magi's pipeline. Stage vectors have the plan's stage count; times in seconds.
struct RankTimes {
  int64_t rank = 0;
  double host_fwd_s = 0, host_bwd_s = 0;  // host-stage kernels
  std::vector<double> fwd_s, bwd_s;       // per stage: kernels
  std::vector<double> fetch_s;            // per stage: this rank's link time for K/V
  std::vector<double> reduce_s;           // per stage: this rank's link time for dK/dV
  double fwd_wait_s = 0, bwd_wait_s = 0;  // compute idle, waiting on exchanges
  double fwd_end_s = 0, bwd_end_s = 0;    // completion
};

/// One method's prediction.
struct MethodResult {
  std::string method;  // "magi", "magi_hier", "ring", "ulysses", "all_gather"
  bool feasible = true;
  std::string note;  // layout used, or why the method cannot run
  double fwd_s = 0;  // slowest rank
  double bwd_s = 0;
  double fwd_tflops = 0;  // per GPU: total FLOPs / fwd_s / cp
  double bwd_tflops = 0;
  double fwd_compute_s = 0;  // slowest rank's kernel time alone
  double bwd_compute_s = 0;
  double inter_bytes = 0;        // forward pass, all ranks, between nodes
  double intra_bytes = 0;        // forward pass, all ranks, inside nodes
  std::vector<RankTimes> ranks;  // magi only
};

/// Exact cells of the mask (union), the FLOP count every method is credited with.
int64_t mask_cells(std::span<const AttnSlice> slices);

/// magi's plan (all ranks; make_plan) executed as the runtime does: every stage's group-cast
/// posted first, the host stage, then each stage when its rows arrive; backward re-fetches
/// K/V, and each stage's partial dK/dV leave when its kernel ends. With `hier`, each stage's
/// group-cast is the inter-node exchange followed by the intra-node one (reduce: reversed).
MethodResult simulate_magi(const Plan& plan, const HierPlan* hier, const ClusterDesc& cluster,
                           const AttnShape& shape);

enum class RingLayout : int8_t {
  kContiguous,  // rank r holds rows [r * S / cp, (r + 1) * S / cp)
  kZigzag,      // 2 cp equal blocks; rank r holds blocks r and 2 cp - 1 - r (causal balance)
};

/// Ring attention: cp steps; in step i rank r computes against the K/V of rank r - i while
/// passing it on to r + 1 (P2P, overlapped). Backward: K/V and their fp32 dK/dV accumulator
/// travel the ring; an accumulator leaves only after its step's kernel, and one last hop takes
/// it home. `total_seqlen` rows (the mask must lie inside).
MethodResult simulate_ring(std::span<const AttnSlice> slices, int64_t total_seqlen,
                           RingLayout layout, const ClusterDesc& cluster, const AttnShape& shape);

/// Ulysses: all-to-all of q, k, v from sequence shards to head shards, full-sequence attention
/// on Hq / cp heads, all-to-all of out back (backward: dout in, dq/dk/dv out); no overlap.
/// Needs cp | Hq, and cp | Hkv or Hkv | cp (then each kv head is replicated to cp / Hkv ranks).
MethodResult simulate_ulysses(std::span<const AttnSlice> slices, int64_t total_seqlen,
                              const ClusterDesc& cluster, const AttnShape& shape);

/// All-gather of K/V (ring all-gather, limited by the slowest link), then each rank's rows
/// against the whole sequence; backward: gather again, then reduce-scatter dK/dV. No overlap.
MethodResult simulate_all_gather(std::span<const AttnSlice> slices, int64_t total_seqlen,
                                 RingLayout layout, const ClusterDesc& cluster,
                                 const AttnShape& shape);

/// JSON of the inputs' main figures and every method (per-rank times with `with_ranks`).
std::string to_json(const ClusterDesc& cluster, const AttnShape& shape,
                    std::span<const MethodResult> results, bool with_ranks);

}  // namespace magi::sim
