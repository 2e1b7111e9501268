// Which Hopper forward runs a call, and how its tiles reach the CTAs: 128-row items on two
// consumer warpgroups or, at head dims that have them (tile_table.h), 192-row items on three;
// the scheduler's rounds (tile_scheduler.h) or a plan with cut tiles (fwd_plan.h). A pure host
// function of the lists' key tiles per item under one time model (unit-tested on the CPU,
// tests/kernels/cuda/sm90/fwd_rows_test.cc); ffa_cuda.cc keeps its answer per (mask, query
// heads, head dim).
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "kernels/cuda/ffa/sm90/fwd_plan.h"

namespace magi::cuda::sm90 {

/// The time model (FwdCost), fitted on the H200 to the two kernels' speeds at head dim 64 on 12
/// shapes (bench/NOTES.md v30: 2k-32k, 16:16 and 64:8, full and causal; each ratio within 3.2 %
/// and the faster kernel picked on all 12): every tile costs besides its cells 200 keys of a
/// 128-row tile, and every CTA once 720 (the pipeline's start). A piece of a cut tile adds its
/// partial's store and the merge's load: 64 KB each way at 128 x 128, about 160 keys' time.
///
/// How much faster the 192-row kernel computes a cell than the 128-row one at `head_dim` (q's):
/// 0.98 at 64, refitted on an H100 to the same 12 shapes (v65: least squares of the time ratios,
/// 3.7 % rms) once the 128-row kernel checked its softmax by the row sums and the 192-row one,
/// at 160 registers a consumer, kept the max-first way (fwd_traits.cuh: kSummed; v30's 1.10
/// was the max-first kernels'). The 192-row kernel now wins only the 8k 64:8 full shape in the
/// model (by 1 %, measured 0.4 %); the 2k 64:8 causal one, where it measured 6 % faster, the
/// model gives the 128-row kernel. At 128 (sequential consumer, 128-key tiles, built only with
/// -DMAGI_FFA_HD128_FWD_WIDE_BLOCK_N=128: tile_table.h) 1.02, the rate at which this model
/// reproduced the first shape measured (32k 16:16 full, v41); on 16 shapes the forced 192-row
/// kernel then ran at 0.89-1.00x of the 128-row one (v44), so no default build has it.
constexpr double fwd_wide_cell_rate(int head_dim) { return head_dim == 64 ? 0.98 : 1.02; }

/// head_dim: q's (the kernel's), head_dim_v: O's (v's), the columns a piece stores and the
/// merge loads.
inline FwdCost fwd_cost(int block_m, int block_n, int head_dim, int head_dim_v) {
  FwdCost c;
  c.key_tile = block_m / 128.0 * block_n / (block_m == 128 ? 1.0 : fwd_wide_cell_rate(head_dim));
  c.fixed = 200.0;
  c.first = 720.0;
  c.piece = 160.0 * block_m * head_dim_v / (128.0 * 128.0);
  return c;
}

enum class FwdPlanMode {
  kRounds,  // the scheduler's rounds only
  kModel,   // the balanced plan where the model expects it to beat every rounds by 5 %
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
/// `num_sms` multiprocessors: the rounds (at most one CTA per tile) of the candidate whose
/// rounds finish first (ties: the earlier), unless a candidate's balanced plan (every
/// multiprocessor) is expected to finish 5 % sooner still. The margin is measured (bench/NOTES.md
/// v34): where the model promised less, the plans' cut tiles and other tile order won nothing
/// or lost up to 6 % (2k hd 64 full, 8k varlen causal); where it promised 10 % (8k hd 64 full,
/// 16 heads) they won 11 %.
inline FwdChoice choose_fwd(std::span<const FwdCandidate> lists, int32_t heads, int num_sms,
                            FwdPlanMode mode) {
  FwdChoice best;
  for (size_t i = 0; i < lists.size(); ++i) {
    const FwdCandidate& c = lists[i];
    const int64_t tiles = static_cast<int64_t>(c.item_tiles.size()) * heads;
    const int32_t grid = TileScheduler::grid_for(static_cast<int32_t>(tiles), num_sms);
    FwdPlan rounds = fwd_rounds_plan(c.item_tiles, heads, grid, c.cost);
    if (i == 0 || rounds.makespan < best.time) {
      best.list = i;
      best.time = rounds.makespan;
      best.plan = std::move(rounds);
    }
  }
  if (mode == FwdPlanMode::kRounds) return best;
  const double bar = mode == FwdPlanMode::kAlways ? INFINITY : 0.95 * best.time;
  FwdChoice balanced;
  for (size_t i = 0; i < lists.size(); ++i) {
    const FwdCandidate& c = lists[i];
    if (c.item_tiles.empty()) continue;
    FwdPlan plan = plan_fwd(c.item_tiles, heads, num_sms, c.cost);
    if (plan.makespan < bar && (!balanced.balanced || plan.makespan < balanced.time)) {
      balanced.list = i;
      balanced.balanced = true;
      balanced.time = plan.makespan;
      balanced.plan = std::move(plan);
    }
  }
  return balanced.balanced ? balanced : best;
}

}  // namespace magi::cuda::sm90
