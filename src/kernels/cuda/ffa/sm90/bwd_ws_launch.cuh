// Host launcher of the warp-specialised Hopper backward kernel (included by the generated
// instantiation units): tensor maps + choose_schedule + one launch.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/ffa/device_info.h"
#include "kernels/cuda/ffa/launch_kernel.cuh"
#include "kernels/cuda/ffa/sm90/bwd_timeline.cuh"
#include "kernels/cuda/ffa/sm90/bwd_ws_kernel.cuh"
#include "kernels/cuda/ffa/sm90/schedule.h"
#include "kernels/cuda/ffa/sm90/tma_desc.h"

namespace magi::cuda::sm90 {

/// `stats`: the preprocess's head-major lse * log2(e) and D, each [Hq, stat_stride] fp32
/// (stat_stride >= total_q, a multiple of 4). kHeadDimV: v's and dout's head dim.
template <Elem E, int kHeadDim, int kHeadDimV = kHeadDim, bool kDPass = false>
void launch_bwd_ws(const BwdParams& p, const BwdStats& stats, cudaStream_t stream) {
  // D passes (tile_table.h: bwd_d_passes): outside the deterministic mode, whose lists above
  // head dim 128 have 64-key items (the split-D kernel's passes).
  if constexpr (!kDPass && kHeadDimV == kHeadDim && bwd_d_passes(kHeadDim)) {
    if (p.deterministic == 0) return launch_bwd_ws<E, kHeadDim, kHeadDimV, true>(p, stats, stream);
  }
  using Tr = BwdWsTraits<E, kHeadDim, kDPass, kHeadDimV>;
  // Cut tiles (bwd_cut.cuh) only in kernels of one key pass and one head dim (ffa_cuda.cc:
  // bwd_plan_shape plans them so).
  constexpr bool kCuts = Tr::kPasses == 1 && kHeadDimV == kHeadDim;
  MAGI_CHECK(kCuts || p.num_cuts == 0, "FFA CUDA: cut tiles planned for a backward kernel of ",
             Tr::kPasses, " key passes at head dims ", kHeadDim, " / ", kHeadDimV);
  // Tiles of pack_heads query heads (bwd_ws_traits.cuh: kPackHeads).
  MAGI_CHECK(p.pack_heads == 1 || (p.heads_per_kv % p.pack_heads == 0 && Tr::kPackHeads &&
                                   p.num_cuts == 0 && p.deterministic == 0),
             "FFA CUDA: ", p.pack_heads, " query heads a backward tile at head dim ", kHeadDim);
  MAGI_CHECK(p.dq_store == nullptr || Tr::kCastDq, "FFA CUDA: dQ cast asked of the backward kernel",
             " at head dims ", kHeadDim, " / ", kHeadDimV, ", which does not cast");
  const Schedule cfg =
      choose_schedule({p.num_items, p.num_heads_q / p.pack_heads, current_sm_count(),
                       p.heads_per_kv / p.pack_heads, Pass::kBackward});
  if (cfg.sched.grid == 0) return;
  BwdParamsSm90 P{};
  P.p = p;
  P.sched = cfg.sched;
  if (p.plan_start != nullptr) P.sched.group = 0;  // the plan numbers tiles item-major
  const uint64_t hq = static_cast<uint64_t>(p.num_heads_q);
  const uint64_t hkv = hq / static_cast<uint64_t>(p.heads_per_kv);
  const uint64_t sq = static_cast<uint64_t>(p.total_q), sk = static_cast<uint64_t>(p.total_k);
  const uint32_t row_box[3] = {64, 1, Tr::kBlockM};
  const uint32_t key_box[3] = {64, 1, Tr::kPassKeys};
  const uint32_t stat_box[3] = {Tr::kStatRows, 1, 1};
  auto view = [](const void* base, uint64_t d, uint64_t heads, uint64_t rows, int64_t hs,
                 int64_t rs) {
    return TmaView3d{
        base, {d, heads, rows}, {2 * static_cast<uint64_t>(hs), 2 * static_cast<uint64_t>(rs)}};
  };
  P.tma_q = make_tma_desc(view(p.q, kHeadDim, hq, sq, p.q_head_stride, p.q_row_stride), row_box);
  P.tma_do =
      make_tma_desc(view(p.dout, kHeadDimV, hq, sq, p.do_head_stride, p.do_row_stride), row_box);
  P.tma_k = make_tma_desc(view(p.k, kHeadDim, hkv, sk, p.k_head_stride, p.k_row_stride), key_box);
  P.tma_v = make_tma_desc(view(p.v, kHeadDimV, hkv, sk, p.v_head_stride, p.v_row_stride), key_box);
  const uint64_t stride = 4 * static_cast<uint64_t>(stats.stride);
  P.tma_lse2 = make_tma_desc({stats.lse2, {sq, hq, 1}, {stride, stride * hq}, TmaElem::kFp32},
                             stat_box, TmaSwizzle::kNone);
  P.tma_dsum = make_tma_desc({stats.dsum, {sq, hq, 1}, {stride, stride * hq}, TmaElem::kFp32},
                             stat_box, TmaSwizzle::kNone);
  const uint32_t dq_box[3] = {32, 1, Tr::kBlockM};
  P.tma_dq = make_tma_desc(
      {p.dq,
       {static_cast<uint64_t>(kHeadDim), hq, sq},
       {4 * static_cast<uint64_t>(p.dq_head_stride), 4 * static_cast<uint64_t>(p.dq_row_stride)},
       TmaElem::kFp32},
      dq_box);
  launch_softcap_variant<ffa_bwd_ws_kernel<Tr, Softcap::kOn>, ffa_bwd_ws_kernel<Tr, Softcap::kOff>>(
      p.use_softcap, cfg.sched.grid, Tr::kThreads, BwdWsSharedStorage<Tr>::kLaunchBytes, stream, P,
      Follow::kMain);
  bwd_timeline_report(cfg.sched.grid, stream);
  // The cut tiles' 16-bit dK / dV (bwd_cut.cuh).
  if constexpr (kCuts) {
    if (p.num_cuts > 0 && p.dkv_store) {
      launch_kernel<ffa_bwd_cut_merge_kernel<E, kHeadDim, Tr::kBlockN / 16>>(
          p.num_cuts, 32 * (Tr::kBlockN / 16), 0, stream, p, Follow::kMerge);
    }
  }
}

}  // namespace magi::cuda::sm90
