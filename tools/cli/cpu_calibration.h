// The cost model's inputs measured on this machine inside a LocalGroup: every rank (thread)
// times the same kernels at once, so the calibration sees the contention the pipeline sees.
// Used by `magi-attn demo --predict` to check the simulator against the measured CPU pipeline.
#pragma once

#include <cstdint>
#include <span>

#include "magi/comm.h"
#include "magi/sim.h"
#include "magi/tensor.h"

namespace magi::cli {

/// One rank's timings (seconds; index 0 forward, 1 backward): a FULL and a CAUSAL rows x rows
/// call, a call over the diagonal alone on rows x rows buffers (the per-row part) and on small
/// buffers (the fixed part), a copy of one rank's K/V, and an empty exchange.
struct KernelTimings {
  double full[2] = {0, 0}, causal[2] = {0, 0}, diag_big[2] = {0, 0}, diag_small[2] = {0, 0};
  double copy_s = 0, copy_bytes = 0, exchange_s = 0;
};

/// Called by every rank of `comm` at once (collective).
KernelTimings time_rank_kernels(Communicator& comm, int64_t rows, int64_t heads_q, int64_t heads_kv,
                                int64_t head_dim, DType dtype);

/// The cluster of a LocalGroup (gpus_per_node = ranks, one node, LocalGroup exchanges) from
/// every rank's timings: rates from FLOPs over time net of the per-row part, INVCAUSAL and
/// BICAUSAL at the CAUSAL rates.
sim::ClusterDesc local_group_cluster(std::span<const KernelTimings> ranks, int64_t rows,
                                     int64_t heads_q, int64_t head_dim);

}  // namespace magi::cli
