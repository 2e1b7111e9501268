// Kernel parameters of the Hopper forward kernel: the portable parameters, the TMA tensor
// maps of q, k and v, and the persistent schedule (a plan: fwd_plan.h).
#pragma once

#include <cuda.h>

#include <cstdint>

#include "kernels/cuda/ffa/params.h"
#include "kernels/cuda/ffa/sm90/fwd_unit.h"
#include "kernels/cuda/ffa/sm90/tile_scheduler.h"

namespace magi::cuda::sm90 {

struct FwdParamsSm90 {
  // [D, heads, rows] views (innermost first) of q [Sq, Hq, D], k and v [Sk, Hkv, D]; boxes of
  // 64 columns x 1 head x a tile's rows, 128-byte swizzle. 64-byte aligned (CUtensorMap).
  CUtensorMap tma_q, tma_k, tma_v;
  FwdParams p;
  TileScheduler sched;
  // The plan in the kernel's form (fwd_plan.h: kernel_form): CTA c runs plan_units from
  // plan_start[c] to the next unit with tile -1.
  const FwdUnit* plan_units;
  const int32_t* plan_start;
  float* split_partials;  // the plan's pieces of cut tiles (fwd_split.cuh)
  // 1: launched in clusters of two CTAs that walk the same key tiles (FwdParams::kv_pairs);
  // each loads half of every K / V tile into both (TMA multicast), and a stage is refilled once
  // both CTAs' consumers have released it.
  int32_t pair;
};

}  // namespace magi::cuda::sm90
