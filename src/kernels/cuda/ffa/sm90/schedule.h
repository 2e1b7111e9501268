// The persistent schedule of the Hopper kernels from a problem description: a pure host
// function (unit-tested on the CPU); the launchers only launch what it returns.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/ffa/sm90/tile_scheduler.h"
#include "magi/check.h"

// Development knob: backward rounds of one query head (grid items of it) given grid items, also
// with grouped-query heads (the backward loads K / V per tile, so only the Q / dO / dQ streams are
// shared by the CTAs of a round).
#ifndef MAGI_FFA_BWD_ONE_HEAD_ROUNDS
#define MAGI_FFA_BWD_ONE_HEAD_ROUNDS 0
#endif

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
  // Grouped order (tile_scheduler.h, `group`) for the backward: a round is grid / heads_per_kv
  // consecutive items of one kv head's query heads, so the CTAs running side by side stream the
  // same Q / dO rows and reduce into the same dQ rows, which then stay in L2; and, the list being
  // longest first, a round's items are of similar length. Item-major order spreads a round over
  // every query head instead: at 32k the 16 (MHA) or 64 (GQA) query streams a round walks do
  // not fit in L2 (hd 256 MHA: 58 % L2 hits against 85 %). With fewer items than a round, a round
  // would span heads and mix long items with short ones (8k causal MHA: -28 %), so such lists
  // keep item-major order. Measured in bench/NOTES.md v24 (GQA) and v27 (MHA).
  const int64_t per_round = std::max<int64_t>(1, c.sched.grid / pb.heads_per_kv);
  if (pb.pass == Pass::kBackward && pb.num_items >= per_round) {
    c.sched.group = static_cast<int32_t>(per_round);
    if (MAGI_FFA_BWD_ONE_HEAD_ROUNDS && pb.num_items >= c.sched.grid) {
      c.sched.group = c.sched.grid;
      c.sched.heads_per_kv = 1;
    }
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
