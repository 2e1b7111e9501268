// Warpgroup MMA (sm_90a): shared-memory matrix descriptors, ordering and completion.
// The mma instructions themselves are in wgmma_mma.cuh (generated).
#pragma once

#include <cstdint>

#include "kernels/cuda/ptx/wgmma_mma.cuh"

namespace magi::cuda::ptx {

/// PTX ISA 9.7.15.5.1 matrix descriptor, 128-byte swizzle: start address, leading- and
/// stride-dimension byte offsets (all in 16-byte units), swizzle mode 1 in bits 62-63.
/// The swizzle repeats every 1024 bytes; tiles start 1024-byte aligned (base offset 0).
__device__ __forceinline__ uint64_t wgmma_desc_sw128(uint32_t smem_addr, uint32_t lbo_bytes,
                                                     uint32_t sbo_bytes) {
  return static_cast<uint64_t>((smem_addr & 0x3FFFF) >> 4) |
         static_cast<uint64_t>((lbo_bytes >> 4) & 0x3FFF) << 16 |
         static_cast<uint64_t>((sbo_bytes >> 4) & 0x3FFF) << 32 | uint64_t{1} << 62;
}

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
