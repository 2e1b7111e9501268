// Clocks for development probes (sm90/fwd_timeline.cuh, bwd_timeline.cuh): the SM's cycle
// counter and the GPU's nanosecond timer, and the SM a CTA runs on.
#pragma once

#include <cstdint>

namespace magi::cuda::ptx {

/// PTX ISA §special registers, %globaltimer: nanoseconds, one clock for every SM (coarser
/// updates than the cycle counter), so CTAs on different SMs can be placed on one time axis.
__device__ __forceinline__ uint64_t globaltimer() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;\n" : "=l"(t));
  return t;
}

/// PTX ISA §special registers, %clock64: this SM's cycle counter (comparable between the warps
/// of one CTA, not between SMs).
__device__ __forceinline__ uint64_t clock64() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%clock64;\n" : "=l"(t));
  return t;
}

/// PTX ISA §special registers, %smid: the SM this thread runs on (fixed for a CTA's life).
__device__ __forceinline__ uint32_t smid() {
  uint32_t id;
  asm volatile("mov.u32 %0, %%smid;\n" : "=r"(id));
  return id;
}

}  // namespace magi::cuda::ptx
