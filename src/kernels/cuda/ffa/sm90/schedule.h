// The persistent schedule of the Hopper kernels from a problem description: a pure host
// function (unit-tested on the CPU); the launchers only launch what it returns.
#pragma once

#include <cstdint>

#include "kernels/cuda/ffa/sm90/tile_scheduler.h"
#include "magi/check.h"

namespace magi::cuda::sm90 {

enum class Pass { kForward, kBackward };

struct ScheduleProblem {
  int64_t num_items;     // work items (forward: row blocks; backward: key blocks)
  int64_t num_heads_q;   // query heads
  int num_sms;           // multiprocessors of the device
  int heads_per_kv = 1;  // query heads per kv head
  Pass pass = Pass::kForward;
};

struct Schedule {
  TileScheduler sched;  // tiles, heads and the persistent grid (grid 0: nothing to launch)
};

inline Schedule choose_schedule(const ScheduleProblem& pb) {
  MAGI_CHECK(pb.num_items >= 0 && pb.num_heads_q >= 1 && pb.num_sms >= 1 && pb.heads_per_kv >= 1 &&
                 pb.num_heads_q % pb.heads_per_kv == 0,
             "FFA CUDA: bad schedule problem (items ", pb.num_items, ", heads ", pb.num_heads_q,
             ", SMs ", pb.num_sms, ")");
  const int64_t tiles = pb.num_items * pb.num_heads_q;
  MAGI_CHECK(tiles < (int64_t{1} << 31), "FFA CUDA: ", tiles,
             " tiles (work items x heads) exceed 2^31 - 1");
  Schedule c{};
  c.sched.num_tiles = static_cast<int32_t>(tiles);
  c.sched.num_heads = static_cast<int32_t>(pb.num_heads_q);
  c.sched.grid = TileScheduler::grid_for(c.sched.num_tiles, pb.num_sms);
  c.sched.heads_per_kv = pb.heads_per_kv;
  // Backward with grouped-query heads: item-major order spreads a wave over every query head,
  // so each Q / dO row stream, and the dQ reductions into it, is shared by only about
  // grid / num_heads_q CTAs (2 at 64:8 on 132 SMs; dQ at 32k does not fit in L2). Grouping
  // makes a wave one kv head's query heads x grid / heads_per_kv key blocks (16 at 64:8).
  // Measured (bench/NOTES.md v24): +5-9 % on full masks at 64:8, causal -4..+3 %; the forward
  // lost up to 15 % on causal masks with any grouping, and MHA gains nothing.
  if (pb.pass == Pass::kBackward && pb.heads_per_kv >= 4) {
    c.sched.group = c.sched.grid / pb.heads_per_kv > 1 ? c.sched.grid / pb.heads_per_kv : 1;
  }
#ifdef MAGI_FFA_TILE_GROUP  // development knob (tile_scheduler.h, `group`), both passes
  c.sched.group = MAGI_FFA_TILE_GROUP;
#endif
#ifdef MAGI_FFA_BWD_TILE_GROUP  // development knob: the backward's alone (0: item-major)
  if (pb.pass == Pass::kBackward) c.sched.group = MAGI_FFA_BWD_TILE_GROUP;
#endif
  return c;
}

}  // namespace magi::cuda::sm90
