// RankWork: everything a call of one rank's runtime needs beyond its tensors, prepared once per
// key (DistAttnRuntime owns it): the FFA work of the host stage, of each overlap stage and of
// the degree-0 merged call, and the row lists of the range kernels. Backends add their
// per-device forms on first use (work lists and range tables uploaded once), so a call with a
// cached key converts, hashes and uploads nothing.
#pragma once

#include <optional>
#include <vector>

#include "kernels/range_list.h"
#include "magi/ffa.h"
#include "magi/plan.h"

namespace magi::runtime {

struct StageWork {
  FfaWork ffa;          // q: local rows; k: the stage's receive buffer
  RangeList send_rows;  // local rows gathered for the group-cast, scatter-added back
};

/// The row lists of dispatch / undispatch over one dispatch (q's, or K/V's).
struct DispatchRows {
  /// `total` rows before padding.
  DispatchRows(const DispatchMeta& d, int64_t rank, int64_t total);

  RangeList dispatch_rows;     // global rows of this rank (padding excluded), in local order
  RangeList undispatch_send;   // cp copies of the local rows (the all-gather's send buffer)
  RangeList undispatch_order;  // the gathered chunks in global order, padding dropped
};

struct RankWork {
  /// From the plan of one rank (plan.ranks.front()); totals before padding.
  RankWork(const Plan& plan, int64_t total_seqlen_q, int64_t total_seqlen_k);

  FfaWork host;                   // q and k: local rows
  std::vector<StageWork> stages;  // one per plan stage
  std::optional<FfaWork> merged;  // degree 0: k = [local; receive buffer of stage 0]
  RangeList concat_local;         // degree 0: {0, shard_kv}
  RangeList concat_remote;        // degree 0: {0, rows received in stage 0}
  DispatchRows q_rows;            // q-side tensors (q, out, lse, dq, ...)
  DispatchRows kv_rows;           // K/V-side tensors (k, v, dk, dv): q_rows in self-attention
};

}  // namespace magi::runtime
