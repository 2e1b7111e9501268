// Host launcher of the Hopper forward kernel (included by the generated instantiation units):
// tensor maps + choose_schedule + one launch.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/ffa/device_info.h"
#include "kernels/cuda/ffa/launch.h"
#include "kernels/cuda/ffa/launch_kernel.cuh"
#include "kernels/cuda/ffa/sm90/fwd_timeline.cuh"
#include "kernels/cuda/ffa/sm90/fwd_kernel.cuh"
#include "kernels/cuda/ffa/sm90/schedule.h"
#include "kernels/cuda/ffa/sm90/tma_desc.h"

namespace magi::cuda::sm90 {

template <Elem E, int kHeadDim, int kBlockM, int kHeadDimV>
void launch_fwd_rows(const FwdParams& p, cudaStream_t stream) {
  using Tr = FwdTraits<E, kHeadDim, kBlockM, kHeadDimV>;
  const Schedule cfg =
      choose_schedule({p.num_items, p.num_heads_q, current_sm_count(), p.heads_per_kv});
  if (cfg.sched.grid == 0) return;
  FwdParamsSm90 P{};
  P.p = p;
  P.sched = cfg.sched;  // the tile numbering (item_of, head_of)
  MAGI_CHECK(p.plan_units != nullptr && p.plan_grid >= 1,
             "FFA CUDA: the Hopper forward needs a plan");
  const int grid = p.plan_grid;
  P.plan_units = static_cast<const FwdUnit*>(p.plan_units);
  P.plan_start = p.plan_start;
  P.split_partials = static_cast<float*>(p.split_ws);
  const uint64_t hkv = static_cast<uint64_t>(p.num_heads_q / p.heads_per_kv);
  const uint32_t q_box[3] = {64, 1, Tr::kBlockM};
  const uint32_t kv_box[3] = {64, 1, Tr::kBlockN};
  P.tma_q = make_tma_desc(
      {p.q,
       {kHeadDim, static_cast<uint64_t>(p.num_heads_q), static_cast<uint64_t>(p.total_q)},
       {2 * static_cast<uint64_t>(p.q_head_stride), 2 * static_cast<uint64_t>(p.q_row_stride)}},
      q_box);
  if (p.total_k > 0) {
    P.tma_k = make_tma_desc(
        {p.k,
         {kHeadDim, hkv, static_cast<uint64_t>(p.total_k)},
         {2 * static_cast<uint64_t>(p.k_head_stride), 2 * static_cast<uint64_t>(p.k_row_stride)}},
        kv_box);
    P.tma_v = make_tma_desc(
        {p.v,
         {kHeadDimV, hkv, static_cast<uint64_t>(p.total_k)},
         {2 * static_cast<uint64_t>(p.v_head_stride), 2 * static_cast<uint64_t>(p.v_row_stride)}},
        kv_box);
  } else {
    // NOTE: no keys, so no item has a segment and nothing loads K/V; a map needs a non-empty
    // tensor, so these two describe q's memory and are never used.
    P.tma_k = P.tma_v = P.tma_q;
  }
  // CTA pairs share K / V loads (FwdParams::kv_pairs) where the kernel has them (Tr::kPairs)
  // and every pair of the grid runs at once (a persistent grid whose second wave would wait for
  // the first).
  constexpr auto kOn = ffa_fwd_sm90_kernel<Tr, Softcap::kOn>;
  constexpr auto kOff = ffa_fwd_sm90_kernel<Tr, Softcap::kOff>;
  constexpr auto kTracking = ffa_fwd_sm90_kernel<Tr, Softcap::kOff, TrackMax::kOn>;
  constexpr int kSmem = FwdSharedStorage<Tr>::kLaunchBytes;
  // max_logits without softcap: each thread tracks its cells' max (TrackMax::kOn), so the
  // softmax keeps its slack, where the reference would follow every increase of a row's max
  // (the host's rescale_slack 0, which the portable kernel and softcap keep: 5.6-7.8 % of the
  // forward at 32k on an H100, bench/NOTES.md v54).
  const bool track = p.max_logits != nullptr && !p.use_softcap;
  if (track) P.p.rescale_slack = kRescaleSlack;
  if constexpr (Tr::kPairs) {
    // NOTE: fwd_plan_pairs reads the tiles in item-major numbering (the scheduler's group 0).
    const bool asked = p.kv_pairs != 0 && cfg.sched.group == 0 && grid % 2 == 0 && p.total_k > 0;
    const int clusters = !asked          ? 0
                         : p.use_softcap ? max_active_clusters<kOn>(Tr::kThreads, kSmem, 2)
                         : track         ? max_active_clusters<kTracking>(Tr::kThreads, kSmem, 2)
                                         : max_active_clusters<kOff>(Tr::kThreads, kSmem, 2);
    P.pair = asked && 2 * clusters >= grid;
    // With the environment's MAGI_FFA_FWD_PAIRS_TRACE, a process's first 8 launches say what
    // they ran (hang hunting, bench/NOTES.md v44 item 6, v46).
    static const bool trace = std::getenv("MAGI_FFA_FWD_PAIRS_TRACE") != nullptr;
    static std::atomic<int> traced{0};
    if (trace && traced++ < 8) {
      std::fprintf(stderr,
                   "ffa_fwd_sm90: %d-row items, %d-key tiles, grid %d, pair %d, %d clusters "
                   "resident, %d items, %d heads\n",
                   kBlockM, Tr::kBlockN, grid, P.pair, clusters, p.num_items, p.num_heads_q);
    }
  }
  if (track) {
    launch_kernel<kTracking>(grid, Tr::kThreads, kSmem, stream, P, Follow::kMain, P.pair ? 2 : 1);
  } else {
    launch_softcap_variant<kOn, kOff>(p.use_softcap, grid, Tr::kThreads, kSmem, stream, P,
                                      Follow::kMain, P.pair ? 2 : 1);
  }
  fwd_timeline_report(grid, stream);
  if (p.num_cuts > 0) {
    FwdSplitParams S{p, cfg.sched, static_cast<const FwdCut*>(p.cuts), P.split_partials,
                     p.use_softcap ? 1.f : p.scale_log2};
    launch_kernel<ffa_fwd_split_merge_kernel<kHeadDimV / 8, kBlockM / 16>>(
        p.num_cuts, 32 * (kBlockM / 16), 0, stream, S, Follow::kMerge);
  }
}

/// The variant of p.block_m rows per item (FwdParams::block_m); kHeadDimV: v's head dim.
template <Elem E, int kHeadDim, int kHeadDimV = kHeadDim>
void launch_fwd(const FwdParams& p, cudaStream_t stream) {
  if constexpr (tiles_for(kHeadDim).fwd_wide_block_n > 0) {
    if (p.block_m == kFwdWideBlockM) {
      return launch_fwd_rows<E, kHeadDim, kFwdWideBlockM, kHeadDimV>(p, stream);
    }
  }
  MAGI_CHECK(p.block_m == kFwdBlockM, "FFA CUDA: no Hopper forward of ", p.block_m,
             "-row items at head dim ", kHeadDim);
  launch_fwd_rows<E, kHeadDim, kFwdBlockM, kHeadDimV>(p, stream);
}

}  // namespace magi::cuda::sm90
