// The persistent schedule of the Hopper kernels from a problem description: a pure host
// function (unit-tested on the CPU); the launchers only launch what it returns.
#pragma once

#include <cstdint>

#include "kernels/cuda/ffa/sm90/tile_scheduler.h"
#include "magi/check.h"

namespace magi::cuda::sm90 {

struct ScheduleProblem {
  int64_t num_items;     // work items (forward: row blocks; backward: key blocks)
  int64_t num_heads_q;   // query heads
  int num_sms;           // multiprocessors of the device
  int heads_per_kv = 1;  // query heads per kv head
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
#ifdef MAGI_FFA_TILE_GROUP  // development knob (tile_scheduler.h, `group`)
  c.sched.group = MAGI_FFA_TILE_GROUP;
#endif
  return c;
}

}  // namespace magi::cuda::sm90
