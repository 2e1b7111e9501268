// RankWork: everything a call of one rank's runtime needs beyond its tensors, prepared once per
// key (DistAttnRuntime owns it): the FFA work of the host stage and of each overlap stage, and
// the row lists of the range kernels. Backends add their per-device forms on first use (work
// lists and range tables uploaded once), so a call with a cached key converts, hashes and
// uploads nothing.
#pragma once

#include <optional>
#include <vector>

#include "kernels/range_list.h"
#include "magi/ffa.h"
#include "magi/hier_plan.h"
#include "magi/plan.h"
#include "runtime/hier_work.h"

namespace magi::runtime {

struct StageWork {
  FfaWork ffa;             // q: local q rows; k: the stage buffer
  int64_t local_rows = 0;  // local K/V rows in front of the stage buffer (StagePlan::reads_local)
  RangeList send_rows;     // local K/V rows gathered for the group-cast, scatter-added back
};

/// The row lists of dispatch / undispatch over one dispatch (q's, or K/V's).
struct DispatchRows {
  /// `rank`'s rows of `d`; `total` rows before padding.
  DispatchRows(const DispatchMeta& d, int64_t rank, int64_t total);

  int64_t shard;                // local rows of this rank
  std::vector<int64_t> shards;  // local rows of every rank (differ with uneven shards)
  RangeList dispatch_rows;      // global rows of this rank (padding excluded), in local order
  RangeList undispatch_send;    // cp copies of the local rows (the all-gather's send buffer)
  RangeList undispatch_order;   // the gathered chunks in global order, padding dropped
};

struct RankWork {
  /// From the plan of one rank (plan.ranks.front()) and its two-level form (hier_plan->ranks[0];
  /// nullptr: flat); totals before padding.
  RankWork(const Plan& plan, const HierPlan* hier_plan, int64_t total_seqlen_q,
           int64_t total_seqlen_k);

  DispatchRows q_rows;            // q-side tensors (q, out, lse, dq, ...)
  DispatchRows kv_rows;           // K/V-side tensors (k, v, dk, dv): q_rows in self-attention
  FfaWork host;                   // q: local q rows; k: local K/V rows
  std::vector<StageWork> stages;  // one per plan stage
  RangeList all_local_kv;         // {0, kv_rows.shard}: every local K/V row, in order
  std::optional<HierWork> hier;   // the hierarchical group-cast's lists (none: flat)
};

}  // namespace magi::runtime
