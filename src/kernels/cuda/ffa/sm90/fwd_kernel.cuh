// FFA forward kernel, Hopper path (sm_90a): persistent and warp-specialised.
//
// Warpgroup 0 is the producer (one elected thread issues every TMA load: Q once per tile, K
// and V through a kStages ring, see fwd_producer.cuh); warpgroups 1 and 2 are the consumers
// (wgmma, online softmax, epilogue: fwd_consumer.cuh). Each CTA walks its units of the host's
// tile plan (fwd_plan.h, work_stream.h). This entry only carves shared memory, initialises the
// barriers and hands each warpgroup its role and register budget.
#pragma once

#include <cstdint>

#include "kernels/cuda/ffa/sm90/fwd_consumer.cuh"
#include "kernels/cuda/ffa/sm90/fwd_params.h"
#include "kernels/cuda/ffa/sm90/fwd_producer.cuh"
#include "kernels/cuda/ffa/sm90/fwd_shared_storage.cuh"
#include "kernels/cuda/ffa/sm90/fwd_traits.cuh"
#include "kernels/cuda/ffa/sm90/pipeline.cuh"
#include "kernels/cuda/ffa/sm90/smem_tile.cuh"
#include "kernels/cuda/ptx/grid_dependency.cuh"
#include "kernels/cuda/ptx/mbarrier.cuh"
#include "kernels/cuda/ptx/warpgroup.cuh"

namespace magi::cuda::sm90 {

template <class Tr, Softcap kCap>
__global__ void __launch_bounds__(Tr::kThreads, 1)
    ffa_fwd_sm90_kernel(const __grid_constant__ FwdParamsSm90 P) {
  using Storage = FwdSharedStorage<Tr>;
  static_assert(Storage::kLaunchBytes <= kMaxSmemBytes);
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ unsigned char smem_raw[];
  Storage& st = shared_storage<Storage>(smem_raw);
  // Launched programmatically (launch_kernel.cuh): the next kernel may be scheduled now, and
  // this one touches no global memory before the previous kernel has completed.
  ptx::griddep_launch_dependents();

  if (threadIdx.x == 0) {
#pragma unroll
    for (int i = 0; i < Tr::kQStages; ++i) {
      Barrier::at(&st.full_q[i]).init(1);
      Barrier::at(&st.empty_q[i]).init(Tr::kConsumerWarps);
    }
#pragma unroll
    for (int i = 0; i < Tr::kStages; ++i) {
      Barrier::at(&st.full_k[i]).init(1);
      Barrier::at(&st.empty_k[i]).init(Tr::kConsumerWarps);
      Barrier::at(&st.full_v[i]).init(1);
      Barrier::at(&st.empty_v[i]).init(Tr::kConsumerWarps);
    }
    ptx::fence_mbarrier_init();
  }
  __syncthreads();
  ptx::griddep_wait();

  const int wg = threadIdx.x / 128;
  if (wg == 0) {
    ptx::setmaxnreg_dec<Tr::kProducerRegs>();
    if (threadIdx.x / 32 == 0 && ptx::elect_sync()) FwdProducer<Tr>::run(P, st);
  } else {
    ptx::setmaxnreg_inc<Tr::kConsumerRegs>();
    FwdConsumer<Tr, kCap>::run(P, st, wg - 1);
  }
#else
  __trap();  // built without sm_90a: the launcher never selects this kernel then
#endif
}

}  // namespace magi::cuda::sm90
