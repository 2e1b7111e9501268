// The persistent schedule of the Hopper kernels from a problem description: a pure host
// function (unit-tested on the CPU); the launchers only launch what it returns.
#pragma once

#include <algorithm>
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
  // The backward's tile order (tile_scheduler.h, `group`). Its CTAs load K / V per tile, so what
  // the CTAs of a round can share in L2 is the query side: the Q / dO rows they stream and the dQ
  // rows they reduce into. Item-major order spreads a round over every query head, and at 32k
  // the 16-64 query streams of a round do not fit in L2 (hd 256 MHA: 58 % L2 hits, 85 % grouped).
  // So, given a round's worth of items, a round is `grid` consecutive items of one query head
  // (the list is longest first: they are of similar length); with fewer, one kv head's query
  // heads over grid / heads_per_kv items; with fewer still, item-major, since a round spanning
  // kv heads would mix long items with short ones (8k causal MHA in one-head rounds: -28 %).
  // Measured (bench/NOTES.md v24, v27): 32k 64:8 causal +22 %, full +4 %; hd 256 MHA +25-30 %.
  if (pb.pass == Pass::kBackward) {
    const int32_t kv_round = std::max(1, c.sched.grid / pb.heads_per_kv);
    if (pb.num_items >= c.sched.grid) {
      c.sched.group = c.sched.grid;
      c.sched.heads_per_kv = 1;  // the order's "kv head" is then the query head
    } else if (pb.num_items >= kv_round) {
      c.sched.group = kv_round;
    }
  }
#ifdef MAGI_FFA_FWD_TILE_GROUP  // development knob: the forward's alone (0: item-major)
  if (pb.pass == Pass::kForward) c.sched.group = MAGI_FFA_FWD_TILE_GROUP;
#endif
#ifdef MAGI_FFA_TILE_GROUP  // development knob (tile_scheduler.h, `group`), both passes
  c.sched.group = MAGI_FFA_TILE_GROUP;
#endif
#ifdef MAGI_FFA_BWD_TILE_GROUP  // development knob: the backward's alone (0: item-major)
  if (pb.pass == Pass::kBackward) c.sched.group = MAGI_FFA_BWD_TILE_GROUP;
#endif
  return c;
}

}  // namespace magi::cuda::sm90
