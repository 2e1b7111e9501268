// cp.async: asynchronous global -> shared copies (sm_80+).
#pragma once

#include <cstdint>

namespace magi::cuda::ptx {

/// PTX ISA 9.7.9.25.3.1 cp.async.cg.shared.global (16 bytes, L2 only). With src_bytes = 0
/// nothing is read and the 16 destination bytes are zero-filled.
__device__ __forceinline__ void cp_async_cg_16(uint32_t smem_addr, const void* gmem,
                                               int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr), "l"(gmem),
               "r"(src_bytes));
}

/// PTX ISA 9.7.9.25.3.1 cp.async.ca.shared.global (4 bytes, through L1); src_bytes = 0
/// zero-fills the destination without reading.
__device__ __forceinline__ void cp_async_ca_4(uint32_t smem_addr, const void* gmem, int src_bytes) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_addr), "l"(gmem),
               "r"(src_bytes));
}

/// PTX ISA 9.7.9.25.3.2 cp.async.commit_group.
__device__ __forceinline__ void cp_async_commit_group() {
  asm volatile("cp.async.commit_group;\n" ::);
}

/// PTX ISA 9.7.9.25.3.3 cp.async.wait_group N: at most N of this thread's groups in flight.
template <int N>
__device__ __forceinline__ void cp_async_wait_group() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

}  // namespace magi::cuda::ptx
