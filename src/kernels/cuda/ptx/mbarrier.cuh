// mbarrier: shared-memory transaction barriers (sm_90). Addresses are 32-bit shared-window
// addresses (cvta_to_shared) of 8-byte aligned 64-bit barrier words.
#pragma once

#include <cstdint>

namespace magi::cuda::ptx {

/// PTX ISA §mbarrier.init: `count` arrivals complete a phase.
__device__ __forceinline__ void mbarrier_init(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}

/// PTX ISA §mbarrier.arrive (release at CTA scope): one arrival.
__device__ __forceinline__ void mbarrier_arrive(uint32_t bar) {
  asm volatile("{\n.reg .b64 st;\nmbarrier.arrive.shared::cta.b64 st, [%0];\n}\n" ::"r"(bar)
               : "memory");
}

/// PTX ISA §mbarrier.arrive, .expect_tx: one arrival, and `bytes` more transaction bytes
/// (asynchronous copies completing on this barrier) before the phase can complete.
__device__ __forceinline__ void mbarrier_arrive_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile(
      "{\n.reg .b64 st;\nmbarrier.arrive.expect_tx.shared::cta.b64 st, [%0], %1;\n}\n" ::"r"(bar),
      "r"(bytes)
      : "memory");
}

/// PTX ISA §mbarrier.try_wait, .parity: true once the phase of parity `parity` has
/// completed (a bounded, hardware-suspended wait; callers loop).
__device__ __forceinline__ bool mbarrier_try_wait_parity(uint32_t bar, uint32_t parity) {
  uint32_t done;
  asm volatile(
      "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
      "selp.u32 %0, 1, 0, p;\n}\n"
      : "=r"(done)
      : "r"(bar), "r"(parity)
      : "memory");
  return done != 0;
}

/// PTX ISA §mbarrier.test_wait, .parity: whether the phase of parity `parity` has completed
/// (no wait; acquire at CTA scope when true).
__device__ __forceinline__ bool mbarrier_test_wait_parity(uint32_t bar, uint32_t parity) {
  uint32_t done;
  asm volatile(
      "{\n.reg .pred p;\nmbarrier.test_wait.parity.shared::cta.b64 p, [%1], %2;\n"
      "selp.u32 %0, 1, 0, p;\n}\n"
      : "=r"(done)
      : "r"(bar), "r"(parity)
      : "memory");
  return done != 0;
}

/// PTX ISA §membar/fence, fence.mbarrier_init.release.cluster: makes barrier initialisations
/// visible to the asynchronous proxy (the copy engine completing transactions on them).
__device__ __forceinline__ void fence_mbarrier_init() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}

}  // namespace magi::cuda::ptx
