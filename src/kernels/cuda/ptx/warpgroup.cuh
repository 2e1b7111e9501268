// Warp-specialisation primitives (sm_90): lane election, register reallocation between
// warpgroups, and named barriers.
#pragma once

#include <cstdint>

namespace magi::cuda::ptx {

/// PTX ISA §elect.sync: true in exactly one active lane of the warp.
__device__ __forceinline__ bool elect_sync() {
  uint32_t elected;
  asm volatile(
      "{\n.reg .b32 r;\n.reg .pred p;\nelect.sync r|p, 0xffffffff;\nselp.u32 %0, 1, 0, p;\n}\n"
      : "=r"(elected));
  return elected != 0;
}

/// PTX ISA §special registers, %laneid, read where used (volatile): a lane index kept from
/// a kernel's start holds a register the whole time, which ptxas spills under pressure.
__device__ __forceinline__ int lane_id() {
  int lane;
  asm volatile("mov.u32 %0, %%laneid;\n" : "=r"(lane));
  return lane;
}

/// PTX ISA §setmaxnreg, .inc / .dec (sm_90a): every thread of the warpgroup executes
/// it; the kernel needs a register cap at entry (__launch_bounds__(threads, 1)).
template <int kRegs>
__device__ __forceinline__ void setmaxnreg_inc() {
  static_assert(kRegs % 8 == 0 && kRegs >= 24 && kRegs <= 256);
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kRegs));
}
template <int kRegs>
__device__ __forceinline__ void setmaxnreg_dec() {
  static_assert(kRegs % 8 == 0 && kRegs >= 24 && kRegs <= 256);
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kRegs));
}

/// PTX ISA §bar.sync id, n: waits until n threads (a multiple of 32) have arrived at named
/// barrier `id` (this warp included). Id 0 is __syncthreads'.
__device__ __forceinline__ void named_barrier_sync(uint32_t id, uint32_t threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

/// PTX ISA §bar.arrive id, n: counts this warp's arrival without waiting.
__device__ __forceinline__ void named_barrier_arrive(uint32_t id, uint32_t threads) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

}  // namespace magi::cuda::ptx
