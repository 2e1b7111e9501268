// Which Hopper forward runs a call, and how its tiles reach the CTAs: 128-row items on two
// consumer warpgroups or, at head dims that have them (tile_table.h), 192-row items on three;
// the scheduler's rounds (tile_scheduler.h) or a plan with cut tiles (fwd_plan.h). A pure host
// function of the lists' key tiles per item under one time model (unit-tested on the CPU,
// tests/kernels/cuda/sm90/fwd_rows_test.cc); ffa_cuda.cc keeps its answer per (mask, query
// heads, head dim).
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "kernels/cuda/ffa/sm90/fwd_plan.h"

namespace magi::cuda::sm90 {

/// The time model (FwdCost), fitted on the H200 to the two kernels' speeds at head dim 64 on 12
/// shapes (bench/NOTES.md v30: 2k-32k, 16:16 and 64:8, full and causal; each ratio within 3.2 %
/// and the faster kernel picked on all 12): the 192-row kernel computes cells 1.10 times as
/// fast; every tile costs besides 200 keys of a 128-row tile, and every CTA once 720 (the
/// pipeline's start). A piece of a cut tile adds its partial's store and the merge's load: 64 KB
/// each way at 128 x 128, about 160 keys' time.
inline constexpr double kFwdWideCellRate = 1.10;

inline FwdCost fwd_cost(int block_m, int block_n, int head_dim) {
  FwdCost c;
  c.key_tile = block_m / 128.0 * block_n / (block_m == 128 ? 1.0 : kFwdWideCellRate);
  c.fixed = 200.0;
  c.first = 720.0;
  c.piece = 160.0 * block_m * head_dim / (128.0 * 128.0);
  return c;
}

enum class FwdPlanMode {
  kRounds,  // the scheduler's rounds only
  kModel,   // the balanced plan where the model expects it to finish at least 1.5 % sooner
  kAlways,  // the balanced plan always (tests of its cut tiles)
};

/// One forward list: the key tiles each item walks, in list order, and its kernel's costs.
struct FwdCandidate {
  std::span<const int32_t> item_tiles;
  FwdCost cost;
};

struct FwdChoice {
  size_t list = 0;        // index into the candidates
  bool balanced = false;  // plan_fwd's plan, else the rounds' (fwd_rounds_plan)
  FwdPlan plan;
  double time = 0.0;  // the model's time of the busiest CTA (plan.makespan)
};

/// The candidate and schedule the model expects to finish first for `heads` query heads on
/// `num_sms` multiprocessors; the balanced plan uses every multiprocessor, the rounds at most
/// one CTA per tile. Ties go to the earlier candidate.
inline FwdChoice choose_fwd(std::span<const FwdCandidate> lists, int32_t heads, int num_sms,
                            FwdPlanMode mode) {
  FwdChoice best;
  for (size_t i = 0; i < lists.size(); ++i) {
    const FwdCandidate& c = lists[i];
    const int64_t tiles = static_cast<int64_t>(c.item_tiles.size()) * heads;
    FwdChoice mine;
    mine.list = i;
    const int32_t grid = TileScheduler::grid_for(static_cast<int32_t>(tiles), num_sms);
    mine.plan = fwd_rounds_plan(c.item_tiles, heads, grid, c.cost);
    if (tiles > 0 && mode != FwdPlanMode::kRounds) {
      FwdPlan plan = plan_fwd(c.item_tiles, heads, num_sms, c.cost);
      if (mode == FwdPlanMode::kAlways || plan.makespan < 0.985 * mine.plan.makespan) {
        mine.balanced = true;
        mine.plan = std::move(plan);
      }
    }
    mine.time = mine.plan.makespan;
    if (i == 0 || mine.time < best.time) best = std::move(mine);
  }
  return best;
}

}  // namespace magi::cuda::sm90
