// `magi-attn demo --predict`: the cost model's prediction of the demo's pipeline next to the
// measured per-stage times.
#pragma once

#include <vector>

#include "magi/plan.h"
#include "magi/sim.h"
#include "stage_times.h"

namespace magi::cli {

/// Prints, per rank and pass, the measured and predicted host-stage and per-stage kernel
/// times, waits and ends, then the slowest rank's totals and the errors. `fwd` and `bwd` are
/// indexed by rank.
void print_prediction(const Plan& plan, const sim::ClusterDesc& cluster,
                      const sim::AttnShape& shape, const std::vector<MeasuredPass>& fwd,
                      const std::vector<MeasuredPass>& bwd);

}  // namespace magi::cli
