// HierWork: one rank's two-level group-cast (a HierRankPlan) as the row lists the range kernels
// run, prepared once per key. Every row of a call's hierarchical exchange lives in one buffer,
// the holdings:
//   [local rows; inter.recv of stages 0, 1, ...; intra.recv of stages 0, 1, ...]
// so the intra level's send rows (over [local; inter.recv of stages 0..s]) index it as they
// are, and each stage's assemble (over [inter.recv of stages 0..s; intra.recv of stage s]) is
// moved onto it here, once.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/range_list.h"
#include "magi/hier_plan.h"

namespace magi::runtime {

struct HierStageWork {
  RangeList inter_send;      // local rows, in the inter level's send order
  RangeList intra_send;      // holdings rows, in the intra level's send order
  RangeList assemble;        // holdings rows, in the flat stage's receive order
  int64_t relayed_at = 0;    // holdings row of this stage's first inter.recv row
  int64_t delivered_at = 0;  // holdings row of this stage's first intra.recv row
};

struct HierWork {
  /// `shard`: the rank's local K/V rows.
  HierWork(const HierRankPlan& plan, int64_t shard);

  int64_t rows = 0;  // of the holdings
  std::vector<HierStageWork> stages;
};

}  // namespace magi::runtime
