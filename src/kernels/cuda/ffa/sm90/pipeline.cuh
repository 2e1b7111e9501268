// The value types above ptx/mbarrier.cuh: a Barrier (one mbarrier word in shared memory) and
// the PipelineState of a ring of stages. No kernel touches barrier words or parities directly.
#pragma once

#include <cstdint>
#include <cstdio>

#include "kernels/cuda/ptx/mbarrier.cuh"
#include "kernels/cuda/ptx/shared.cuh"

namespace magi::cuda::sm90 {

/// One mbarrier, by its 32-bit shared-window address.
struct Barrier {
  uint32_t addr;

  __device__ __forceinline__ static Barrier at(const uint64_t* word) {
    return {ptx::cvta_to_shared(word)};
  }
  /// From one thread, before any use (then fence + CTA barrier: see the kernel entry).
  __device__ __forceinline__ void init(uint32_t arrivals) const {
    ptx::mbarrier_init(addr, arrivals);
  }
  __device__ __forceinline__ void arrive() const { ptx::mbarrier_arrive(addr); }
  /// The producer's arrival for a stage it fills with `bytes` of asynchronous copies.
  __device__ __forceinline__ void arrive_expect_bytes(uint32_t bytes) const {
    ptx::mbarrier_arrive_expect_tx(addr, bytes);
  }
  /// Whether the phase of parity `parity` has completed (no wait).
  __device__ __forceinline__ bool done(uint32_t parity) const {
    return ptx::mbarrier_test_wait_parity(addr, parity);
  }
  /// Waits until the phase of parity `parity` has completed.
  /// NOTE: -DMAGI_FFA_WAIT_LIMIT=<n> traps after n polls and names the barrier (hang hunting).
  __device__ __forceinline__ void wait(uint32_t parity) const {
#ifdef MAGI_FFA_WAIT_LIMIT
    for (long long i = 0; !ptx::mbarrier_try_wait_parity(addr, parity); ++i) {
      if (i == (MAGI_FFA_WAIT_LIMIT)) {
        printf("FFA: barrier wait stuck: block %d thread %d smem 0x%x parity %u\n", blockIdx.x,
               threadIdx.x, addr, parity);
        __trap();
      }
    }
#else
    while (!ptx::mbarrier_try_wait_parity(addr, parity)) {
    }
#endif
  }
};

/// Position in a ring of kStages stages: the stage index and the parity of the phase a
/// consumer waits for there. The parity flips each time the index wraps. A producer waits on
/// a stage's "empty" barrier with the opposite parity (empty_parity), so its first pass
/// through the ring does not wait.
template <int kStages>
struct PipelineState {
  static_assert(kStages >= 1);
  int index = 0;
  uint32_t phase = 0;

  __device__ __forceinline__ uint32_t full_parity() const { return phase; }
  __device__ __forceinline__ uint32_t empty_parity() const { return phase ^ 1u; }
  __device__ __forceinline__ void advance() {
    if (++index == kStages) {
      index = 0;
      phase ^= 1u;
    }
  }
};

}  // namespace magi::cuda::sm90
