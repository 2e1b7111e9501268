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
  FfaWork ffa;             // q: local rows; k: the stage buffer
  int64_t local_rows = 0;  // local rows in front of the stage buffer (StagePlan::reads_local)
  RangeList send_rows;     // local rows gathered for the group-cast, scatter-added back
};

struct RankWork {
  /// From the plan of one rank (plan.ranks.front()) and its two-level form (hier_plan->ranks[0];
  /// nullptr: flat); `total_seqlen_q` before padding.
  RankWork(const Plan& plan, const HierPlan* hier_plan, int64_t total_seqlen_q);

  int64_t shard;                  // local rows of this rank
  std::vector<int64_t> shards;    // local rows of every rank (differ with uneven shards)
  FfaWork host;                   // q and k: local rows
  std::vector<StageWork> stages;  // one per plan stage
  RangeList all_local;            // {0, shard}: every local row, in order
  RangeList dispatch_rows;        // global rows of this rank (padding excluded), in local order
  RangeList undispatch_send;      // cp copies of the local rows (the all-gather's send buffer)
  RangeList undispatch_order;     // the gathered chunks in global order, padding dropped
  std::optional<HierWork> hier;   // the hierarchical group-cast's lists (none: flat)
};

}  // namespace magi::runtime
