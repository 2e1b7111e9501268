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
#include "kernels/cuda/ffa/sm90/fwd_timeline.cuh"
#include "kernels/cuda/ffa/sm90/fwd_traits.cuh"
#include "kernels/cuda/ffa/sm90/pipeline.cuh"
#include "kernels/cuda/ffa/sm90/smem_tile.cuh"
#include "kernels/cuda/ptx/cluster.cuh"
#include "kernels/cuda/ptx/grid_dependency.cuh"
#include "kernels/cuda/ptx/mbarrier.cuh"
#include "kernels/cuda/ptx/warpgroup.cuh"

namespace magi::cuda::sm90 {

template <class Tr, Softcap kCap, TrackMax kTrack = TrackMax::kOff>
__global__ void __launch_bounds__(Tr::kThreads, 1)
    ffa_fwd_sm90_kernel(const __grid_constant__ FwdParamsSm90 P) {
  using Storage = FwdSharedStorage<Tr>;
  static_assert(Storage::kLaunchBytes <= kMaxSmemBytes);
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ unsigned char smem_raw[];
  Storage& st = shared_storage<Storage>(smem_raw);
  MAGI_FWD_MARK(threadIdx.x == 0, kMarkEntry);
  // Launched programmatically (launch_kernel.cuh): the next kernel may be scheduled now, and
  // this one touches no global memory before the previous kernel has completed.
  ptx::griddep_launch_dependents();

  if (threadIdx.x == 0) {
#pragma unroll
    for (int i = 0; i < Tr::kQStages; ++i) {
      Barrier::at(&st.full_q[i]).init(1);
      Barrier::at(&st.empty_q[i]).init(Tr::kConsumerWarps);
    }
    // In a pair (FwdParamsSm90::pair) both CTAs' consumers release each K / V stage.
    const uint32_t kv_releases = Tr::kConsumerWarps * (Tr::kPairs && P.pair ? 2 : 1);
#pragma unroll
    for (int i = 0; i < Tr::kStages; ++i) {
      Barrier::at(&st.full_k[i]).init(1);
      Barrier::at(&st.empty_k[i]).init(kv_releases);
      Barrier::at(&st.full_v[i]).init(1);
      Barrier::at(&st.empty_v[i]).init(kv_releases);
    }
    ptx::fence_mbarrier_init();
  }
  // A pair's barriers are initialised in both CTAs before either loads into or arrives on the
  // other's.
  if (Tr::kPairs && P.pair) {
    ptx::cluster_sync();
  } else {
    __syncthreads();
  }
  ptx::griddep_wait();

  // Neither CTA of a pair exits while the other's consumers may still arrive on its barriers:
  // the consumers end at the cluster's barrier. (The other's loads into this CTA's shared
  // memory all complete before this CTA's consumers finish: they wait for them.) The producer
  // warpgroup arrives there at once and never waits.
  // NOTE: arriving after its walk kept a value live through the producer's 24 registers, which
  // then spilled.
  // The warpgroup through lane 0: the compiler then knows it is one value per warp and keeps
  // it, and what derives from it (the Q descriptors of a consumer's rows), in uniform
  // registers (bench/NOTES.md v49).
  const int wg = __shfl_sync(0xffffffffu, static_cast<int>(threadIdx.x / 128), 0);
  if (wg == 0) {
    ptx::setmaxnreg_dec<Tr::kProducerRegs>();
    if (Tr::kPairs && P.pair) ptx::cluster_arrive();
    // NOTE: where pairs are compiled in, the whole producer warp walks the stream and one lane
    // issues: lanes that exited while the elected one went on to load hung the pair at its
    // first tile (tests/cuda/pair_probe.cu, bench/NOTES.md v46). Elsewhere the elected lane
    // walks alone (the same code: `leader` is known there).
    if (threadIdx.x / 32 == 0) {
      const bool leader = ptx::elect_sync();
      if (Tr::kPairs || leader) FwdProducer<Tr>::run(P, st, leader);
    }
  } else {
    ptx::setmaxnreg_inc<Tr::kConsumerRegs>();
    FwdConsumer<Tr, kCap, kTrack>::run(P, st, wg - 1);
    if (Tr::kPairs && P.pair) ptx::cluster_sync();
  }
#else
  __trap();  // built without sm_90a: the launcher never selects this kernel then
#endif
}

}  // namespace magi::cuda::sm90
