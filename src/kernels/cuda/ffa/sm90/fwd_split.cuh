// The pieces of a cut forward tile (fwd_plan.h): each runs like a whole tile over its range of
// the keys, then every consumer warp stores its 16 rows' partial state (unnormalised O and the
// softmax statistics, fp32) to the piece's slot and takes a ticket; the warp holding the last
// ticket of its rows merges all pieces' states and runs the ordinary epilogue on the result.
//
// The merge reads every piece from the workspace, its own too, and adds them in piece order, so
// its bits do not depend on which piece finished last (the forward stays deterministic).
// Nothing waits: a warp that is not last goes on with its next unit.
#pragma once

#include <cstdint>

#include "kernels/cuda/ffa/sm90/fwd_unit.h"
#include "kernels/cuda/ffa/softmax.cuh"
#include "kernels/cuda/ptx/wgmma.cuh"

namespace magi::cuda::sm90 {

/// Stores this warp's state of piece `code` (FwdUnit::split) in the pieces' workspace
/// (fwd_plan.h: fwd_split_bytes; `partials` at its start, `tickets` at its tickets) and returns whether the warp took
/// its rows' last ticket; if so, `o` and `sm` then hold the merged state of all pieces.
/// `scale` maps scores to log2 units (as OnlineSoftmax).
template <int kNO, int kWarps>
__device__ __forceinline__ bool fwd_split_merge(float* partials, int32_t* tickets, int32_t code,
                                                int warp, float (&o)[1][kNO][4],
                                                OnlineSoftmax<1>& sm, float scale, int lane) {
  constexpr int64_t kSlotFloats = fwd_split_slot_floats(8 * kNO);
  const int32_t base = split_base(code), pieces = split_pieces(code);
  const auto slot = [&](int32_t piece) {
    return reinterpret_cast<float4*>(partials + ((base + piece) * int64_t{kWarps} + warp) *
                                                    kSlotFloats) +
           lane;
  };
  float4* mine = slot(split_piece(code));
#pragma unroll
  for (int nt = 0; nt < kNO; ++nt) {
    __stcg(mine + 32 * nt, make_float4(o[0][nt][0], o[0][nt][1], o[0][nt][2], o[0][nt][3]));
  }
  __stcg(mine + 32 * kNO,
         make_float4(sm.row_max[0][0], sm.row_max[0][1], sm.row_sum[0][0], sm.row_sum[0][1]));
  __threadfence();  // the state is visible before the ticket
  __syncwarp();
  int32_t ticket = 0;
  if (lane == 0) ticket = atomicAdd(tickets + base * kWarps + warp, 1);
  if (__shfl_sync(0xffffffffu, ticket, 0) != pieces - 1) return false;
  __threadfence();  // every other piece's state is visible after its ticket

  float m[2] = {-INFINITY, -INFINITY};
  for (int32_t pc = 0; pc < pieces; ++pc) {
    const float4 st = __ldcg(slot(pc) + 32 * kNO);
    m[0] = fmaxf(m[0], st.x);
    m[1] = fmaxf(m[1], st.y);
  }
  float l[2] = {0.f, 0.f};
#pragma unroll
  for (int nt = 0; nt < kNO; ++nt)
#pragma unroll
    for (int e = 0; e < 4; ++e) o[0][nt][e] = 0.f;
  for (int32_t pc = 0; pc < pieces; ++pc) {
    const float4* from = slot(pc);
    const float4 st = __ldcg(from + 32 * kNO);
    // A piece with no weight in a row (-inf max) adds nothing, also when no piece has any.
    const float w0 = st.x == -INFINITY ? 0.f : exp2f((st.x - m[0]) * scale);
    const float w1 = st.y == -INFINITY ? 0.f : exp2f((st.y - m[1]) * scale);
    l[0] = fmaf(w0, st.z, l[0]);
    l[1] = fmaf(w1, st.w, l[1]);
#pragma unroll
    for (int nt = 0; nt < kNO; ++nt) {
      const float4 x = __ldcg(from + 32 * nt);
      o[0][nt][0] = fmaf(w0, x.x, o[0][nt][0]);  // accumulator layout: rows g, g, g + 8, g + 8
      o[0][nt][1] = fmaf(w0, x.y, o[0][nt][1]);
      o[0][nt][2] = fmaf(w1, x.z, o[0][nt][2]);
      o[0][nt][3] = fmaf(w1, x.w, o[0][nt][3]);
      // NOTE: at most four loads in flight: hoisted all at once they would need kNO x 4 more
      // registers where the consumer has none to spare (the next tile's S is live here).
      if (nt % 4 == 3) ptx::fence_value(o[0][nt][3]);
    }
  }
  sm.row_max[0][0] = m[0];
  sm.row_max[0][1] = m[1];
  sm.row_sum[0][0] = l[0];
  sm.row_sum[0][1] = l[1];
  return true;
}

}  // namespace magi::cuda::sm90
