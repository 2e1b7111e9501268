// The cost model's inputs measured on this machine for a LocalGroup of `cp` ranks (threads):
// kernel rates with cp kernels running at once, the copy rate with cp copies at once, and the
// latency of an empty exchange. Used by `magi-attn demo --predict` to check the simulator
// against the measured CPU pipeline.
#pragma once

#include <cstdint>

#include "magi/sim.h"
#include "magi/tensor.h"

namespace magi::cli {

/// Calibrates on [rows] x [rows] FULL and CAUSAL problems of the given heads and dtype
/// (INVCAUSAL and BICAUSAL take the CAUSAL rates). gpus_per_node = cp, nodes = 1,
/// async_comm = false.
sim::ClusterDesc calibrate_local_group(int64_t cp, int64_t rows, int64_t heads_q, int64_t heads_kv,
                                       int64_t head_dim, DType dtype);

}  // namespace magi::cli
