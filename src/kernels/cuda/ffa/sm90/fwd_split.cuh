// The pieces of a cut forward tile (fwd_plan.h): each runs like a whole tile over its range of
// the keys and, in place of the epilogue, every consumer warp stores its 16 rows' partial state
// (unnormalised O and the softmax statistics, fp32) to the piece's slot of the workspace. A
// second, small kernel then merges each cut tile's pieces in piece order (so the output does
// not depend on which piece ran when: the forward stays deterministic) and runs the ordinary
// epilogue on the result.
//
// NOTE: the merge is not done in the forward kernel by the last piece to finish: that code in
// the consumers' loop, which defines O with ordinary instructions, made ptxas duplicate the
// loop's softmax and barrier code and cost 3-6 % on every shape (bench/NOTES.md v34).
#pragma once

#include <cstdint>
#include <type_traits>

#include "kernels/cuda/ffa/fwd_epilogue.cuh"
#include "kernels/cuda/ffa/params.h"
#include "kernels/cuda/ffa/sm90/fwd_unit.h"
#include "kernels/cuda/ffa/sm90/tile_scheduler.h"
#include "kernels/cuda/ffa/softmax.cuh"
#include "kernels/cuda/ptx/grid_dependency.cuh"

namespace magi::cuda::sm90 {

/// This warp's part of workspace slot `slot` (FwdUnit::split), lane's first float4: kNO float4
/// of O (the accumulator layout's four values of each n8 block), then one of statistics.
template <int kNO, int kWarps, class F>
__device__ __forceinline__ auto* fwd_split_slot(F* partials, int32_t slot, int warp, int lane) {
  using V = std::conditional_t<std::is_const_v<F>, const float4, float4>;
  return reinterpret_cast<V*>(partials +
                              (slot * int64_t{kWarps} + warp) * fwd_split_slot_floats(8 * kNO)) +
         lane;
}

/// Stores this warp's state of the piece whose workspace slot is `slot` (FwdUnit::split).
template <int kNO, int kWarps, TrackMax kTrack>
__device__ __forceinline__ void fwd_split_store(float* partials, int32_t slot, int warp,
                                                const float (&o)[1][kNO][4],
                                                const OnlineSoftmax<1, kTrack>& sm, int lane) {
  float4* to = fwd_split_slot<kNO, kWarps>(partials, slot, warp, lane);
#pragma unroll
  for (int nt = 0; nt < kNO; ++nt) {
    to[32 * nt] = make_float4(o[0][nt][0], o[0][nt][1], o[0][nt][2], o[0][nt][3]);
  }
  to[32 * kNO] =
      make_float4(sm.row_max[0][0], sm.row_max[0][1], sm.row_sum[0][0], sm.row_sum[0][1]);
}

struct FwdSplitParams {
  FwdParams p;
  TileScheduler sched;  // the forward's tile numbering
  const FwdCut* cuts;   // the plan's cut tiles
  const float* partials;
  float scale;  // scores to log2 units (OnlineSoftmax's), 1 with softcap
};

/// One CTA per cut tile, one warp per 16 rows: the pieces' states merged in piece order, then
/// the forward's epilogue. Launched after the forward (programmatically: it waits for it).
template <int kNO, int kWarps>
__global__ void __launch_bounds__(32 * kWarps)
    ffa_fwd_split_merge_kernel(const __grid_constant__ FwdSplitParams S) {
  ptx::griddep_wait();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const FwdCut cut = S.cuts[blockIdx.x];
  float m[2] = {-INFINITY, -INFINITY};
  for (int32_t pc = 0; pc < cut.pieces; ++pc) {
    const float4 st = fwd_split_slot<kNO, kWarps>(S.partials, cut.base + pc, warp, lane)[32 * kNO];
    m[0] = fmaxf(m[0], st.x);
    m[1] = fmaxf(m[1], st.y);
  }
  float o[1][kNO][4] = {};
  OnlineSoftmax<1> sm;
  sm.init();
  for (int32_t pc = 0; pc < cut.pieces; ++pc) {
    const float4* from = fwd_split_slot<kNO, kWarps>(S.partials, cut.base + pc, warp, lane);
    const float4 st = from[32 * kNO];
    // A piece with no weight in a row (-inf max) adds nothing, also when no piece has any.
    const float w0 = st.x == -INFINITY ? 0.f : exp2f((st.x - m[0]) * S.scale);
    const float w1 = st.y == -INFINITY ? 0.f : exp2f((st.y - m[1]) * S.scale);
    sm.row_sum[0][0] = fmaf(w0, st.z, sm.row_sum[0][0]);
    sm.row_sum[0][1] = fmaf(w1, st.w, sm.row_sum[0][1]);
#pragma unroll
    for (int nt = 0; nt < kNO; ++nt) {
      const float4 x = from[32 * nt];
      o[0][nt][0] = fmaf(w0, x.x, o[0][nt][0]);  // accumulator layout: rows g, g, g + 8, g + 8
      o[0][nt][1] = fmaf(w0, x.y, o[0][nt][1]);
      o[0][nt][2] = fmaf(w1, x.z, o[0][nt][2]);
      o[0][nt][3] = fmaf(w1, x.w, o[0][nt][3]);
    }
  }
  sm.row_max[0][0] = m[0];
  sm.row_max[0][1] = m[1];
  const FfaWorkItem& it = S.p.items[S.sched.item_of(cut.tile)];
  fwd_epilogue(S.p, S.sched.head_of(cut.tile), it.block_start + 16 * warp, it.block_end, o, sm,
               S.scale, lane);
}

}  // namespace magi::cuda::sm90
