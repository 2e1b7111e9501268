// Thread block clusters (sm_90): the CTA's rank, addresses in a peer CTA's shared memory
// (distributed shared memory), stores and barrier arrivals there, and the cluster barrier.
// Addresses are 32-bit shared-window addresses, as in ptx/mbarrier.cuh.
#pragma once

#include <cstdint>

namespace magi::cuda::ptx {

/// PTX ISA §special registers, %cluster_ctarank: this CTA's rank in its cluster.
__device__ __forceinline__ uint32_t cluster_ctarank() {
  uint32_t r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
  return r;
}

/// PTX ISA §mapa: the address in CTA `rank`'s shared memory that corresponds to this CTA's
/// shared address `addr` (same layout in every CTA of the kernel).
__device__ __forceinline__ uint32_t mapa_shared(uint32_t addr, uint32_t rank) {
  uint32_t r;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(r) : "r"(addr), "r"(rank));
  return r;
}

/// PTX ISA §st, .shared::cluster: two floats into a peer CTA's shared memory (8-byte aligned;
/// ordered for the peer by a later release arrival, mbarrier_arrive_remote).
/// NOTE: not red.shared::cluster.add.f32: ptxas makes every such addition a compare-and-swap
/// loop (ATOMS.CAST.SPIN); shared memory has no native float addition.
__device__ __forceinline__ void st_shared_cluster_f32x2(uint32_t addr, float x, float y) {
  asm volatile("st.shared::cluster.v2.f32 [%0], {%1, %2};\n" ::"r"(addr), "f"(x), "f"(y)
               : "memory");
}

/// PTX ISA §mbarrier.arrive, .release.cluster on a barrier in a peer CTA's shared memory
/// (`remote_bar` from mapa_shared): this thread's earlier writes, there and here, happen
/// before the phase completes for the peer's waiters.
__device__ __forceinline__ void mbarrier_arrive_remote(uint32_t remote_bar) {
  asm volatile("mbarrier.arrive.release.cluster.shared::cluster.b64 _, [%0];\n" ::"r"(remote_bar)
               : "memory");
}

/// PTX ISA §barrier.cluster: every thread of every CTA of the cluster arrives (release), then
/// waits (acquire). All threads of each warp must execute it (.aligned).
__device__ __forceinline__ void cluster_sync() {
  asm volatile(
      "barrier.cluster.arrive.release.aligned;\n"
      "barrier.cluster.wait.acquire.aligned;\n" ::
          : "memory");
}

}  // namespace magi::cuda::ptx
