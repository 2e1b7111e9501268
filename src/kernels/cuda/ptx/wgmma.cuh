// Warpgroup MMA (sm_90a): shared-memory matrix descriptors, ordering and completion.
// The mma instructions themselves are in wgmma_mma.cuh (generated).
#pragma once

#include <cstdint>

#include "kernels/cuda/ptx/wgmma_mma.cuh"

namespace magi::cuda::ptx {

/// wgmma.fence: orders this thread's earlier register and shared-memory accesses before the
/// next wgmma.mma_async (needed before the first one and after touching its registers).
__device__ __forceinline__ void wgmma_fence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}

__device__ __forceinline__ void wgmma_commit_group() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}

/// Waits until at most N committed wgmma groups of this warpgroup are pending.
template <int N>
__device__ __forceinline__ void wgmma_wait_group() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}

/// fence.proxy.async.shared::cta: makes this thread's generic-proxy shared-memory writes
/// (st.shared, cp.async after its wait) visible to the async proxy (wgmma operand reads).
__device__ __forceinline__ void fence_proxy_async_shared() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

/// Operand fences (compiler only, no instruction): the compiler sees the registers read and
/// rewritten at this point, so it keeps them allocated up to here and cannot move their
/// producers below it or their consumers above it. Around asynchronous wgmma:
///  - accumulators after a wait: their values are only defined once the wait has returned;
///  - A fragments (rs) up to the wait: the tensor cores read them after the issue;
///  - values computed between an issue and a wait that should overlap the product: without
///    a fence the compiler may sink their computation below the wait.
template <int kN>
__device__ __forceinline__ void fence_acc(float (&acc)[kN][4]) {
#pragma unroll
  for (int i = 0; i < kN; ++i)
#pragma unroll
    for (int e = 0; e < 4; ++e) asm volatile("" : "+f"(acc[i][e])::"memory");
}
template <int kN>
__device__ __forceinline__ void fence_frag(uint32_t (&a)[kN][4]) {
#pragma unroll
  for (int i = 0; i < kN; ++i)
#pragma unroll
    for (int e = 0; e < 4; ++e) asm volatile("" : "+r"(a[i][e])::"memory");
}
__device__ __forceinline__ void fence_value(float& x) { asm volatile("" : "+f"(x)::"memory"); }

}  // namespace magi::cuda::ptx
