// FFA backward kernel, warp-specialised Hopper path (sm_90a): persistent over (work item,
// query head) tiles; warpgroup 0 produces (TMA, bwd_ws_producer.cuh; its second warp writes
// dQ, bwd_ws_dq_writer.cuh, its last two cast it, bwd_ws_dq_cast.cuh), warpgroups 1-2 consume
// (wgmma, bwd_ws_consumer.cuh; above head dim 128 bwd_ws_consumer_split_d.cuh). This entry carves
// shared memory, initialises the barriers and hands each warpgroup its role and register budget.
#pragma once

#include <cstdint>
#include <type_traits>

#include "kernels/cuda/ffa/sm90/bwd_timeline.cuh"
#include "kernels/cuda/ffa/sm90/bwd_ws_consumer.cuh"
#include "kernels/cuda/ffa/sm90/bwd_ws_consumer_split_d.cuh"
#include "kernels/cuda/ffa/sm90/bwd_ws_dq_cast.cuh"
#include "kernels/cuda/ffa/sm90/bwd_ws_dq_writer.cuh"
#include "kernels/cuda/ffa/sm90/bwd_ws_params.h"
#include "kernels/cuda/ffa/sm90/bwd_ws_producer.cuh"
#include "kernels/cuda/ffa/sm90/bwd_ws_shared_storage.cuh"
#include "kernels/cuda/ffa/sm90/bwd_ws_traits.cuh"
#include "kernels/cuda/ffa/sm90/pipeline.cuh"
#include "kernels/cuda/ffa/sm90/smem_tile.cuh"
#include "kernels/cuda/ptx/grid_dependency.cuh"
#include "kernels/cuda/ptx/mbarrier.cuh"
#include "kernels/cuda/ptx/warpgroup.cuh"

namespace magi::cuda::sm90 {

template <class Tr, Softcap kCap>
__global__ void __launch_bounds__(Tr::kThreads, 1)
    ffa_bwd_ws_kernel(const __grid_constant__ BwdParamsSm90 P) {
  using Storage = BwdWsSharedStorage<Tr>;
  static_assert(Storage::kLaunchBytes <= kMaxSmemBytes);
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ unsigned char smem_raw[];
  Storage& st = shared_storage<Storage>(smem_raw);
  // Launched programmatically (launch_kernel.cuh): the next kernel may be scheduled now, and
  // this one touches no global memory before the previous kernel has completed.
  ptx::griddep_launch_dependents();
  MAGI_BWD_MARK(threadIdx.x == 0, bwd_mark_entry());

  if (threadIdx.x == 0) {
#pragma unroll
    for (int i = 0; i < Tr::kKvStages; ++i) {
      Barrier::at(&st.full_kv[i]).init(1);
      Barrier::at(&st.empty_kv[i]).init(Tr::kConsumerWarps);
    }
#pragma unroll
    for (int i = 0; i < Tr::kStages; ++i) {
      Barrier::at(&st.full_q[i]).init(1);
      Barrier::at(&st.empty_q[i]).init(Tr::kConsumerWarps);
    }
    Barrier::at(&st.dq_full).init(Tr::kConsumerThreads);
    Barrier::at(&st.dq_empty).init(1);
    if constexpr (Tr::kCastDq) {
#pragma unroll
      for (int i = 0; i < Tr::kCastSlots; ++i) {
        Barrier::at(&st.cast_full[i]).init(1);
        Barrier::at(&st.cast_empty[i]).init(1);  // the lane that took the tile
      }
#pragma unroll
      for (int i = 0; i < 2; ++i) Barrier::at(&st.cast_landed[i]).init(1);
    }
    if constexpr (Tr::kDoRing) {
#pragma unroll
      for (int i = 0; i < Tr::kDoStages; ++i) {
        Barrier::at(&st.full_do[i]).init(1);
        Barrier::at(&st.empty_do[i]).init(Tr::kConsumerWarps);
      }
    }
    ptx::fence_mbarrier_init();
  }
  __syncthreads();
  ptx::griddep_wait();
  MAGI_BWD_MARK(threadIdx.x == 0, bwd_mark_ready());

  const int wg = threadIdx.x / 128;
  if (wg == 0) {
    ptx::setmaxnreg_dec<Tr::kProducerRegs>();
    // NOTE: else-if, so the warp index is not live (spilled, in 24 registers) across the
    // producer's loop.
    const int warp = threadIdx.x / 32;
    if (warp == 0) {
      if (ptx::elect_sync()) BwdWsProducer<Tr>::run(P, st);
    } else if (warp == 1) {
      if (ptx::elect_sync()) BwdWsDqWriter<Tr>::run(P, st);
    } else if constexpr (Tr::kCastDq) {
      if (P.p.dq_store != nullptr) {
        if (warp == 2) {
          BwdWsDqCast<Tr>::count(P.p, st);
        } else {
          BwdWsDqCast<Tr>::cast(P.p, st);
        }
      }
    }
  } else {
    ptx::setmaxnreg_inc<Tr::kConsumerRegs>();
    using Consumer =
        std::conditional_t<Tr::kSplitD, BwdWsConsumerSplitD<Tr, kCap>, BwdWsConsumer<Tr, kCap>>;
    Consumer::run(P, st, wg - 1);
  }
#else
  __trap();  // built without sm_90a: the launcher never selects this kernel then
#endif
}

}  // namespace magi::cuda::sm90
