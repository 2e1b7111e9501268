// Bulk asynchronous copies (sm_90): shared -> global reductions done by the copy engine.
#pragma once

#include <cstdint>

namespace magi::cuda::ptx {

/// PTX ISA 9.7.9.25.4.3 cp.reduce.async.bulk .add.f32: global[dst .. dst + bytes) += the
/// fp32 values at shared src (both 16-byte aligned, bytes a multiple of 16). Element-wise
/// atomic with respect to other reductions; ordered against this thread's later
/// cp.async.bulk waits only.
__device__ __forceinline__ void bulk_reduce_add_f32(float* dst, uint32_t src_smem,
                                                    uint32_t bytes) {
  asm volatile(
      "cp.reduce.async.bulk.global.shared::cta.bulk_group.add.f32 [%0], [%1], %2;\n" ::"l"(dst),
      "r"(src_smem), "r"(bytes)
      : "memory");
}

__device__ __forceinline__ void bulk_commit_group() {
  asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
}

/// Waits until at most N of this thread's bulk groups still read their shared source.
template <int N>
__device__ __forceinline__ void bulk_wait_group_read() {
  asm volatile("cp.async.bulk.wait_group.read %0;\n" ::"n"(N) : "memory");
}

/// Waits until at most N of this thread's bulk groups are pending at all.
template <int N>
__device__ __forceinline__ void bulk_wait_group() {
  asm volatile("cp.async.bulk.wait_group %0;\n" ::"n"(N) : "memory");
}

}  // namespace magi::cuda::ptx
