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

}  // namespace magi::cuda::ptx
