// Thread-block clusters (sm_90): the CTA's rank in its cluster, another CTA's shared-memory
// addresses, arrivals on its mbarriers, and the cluster-wide barrier.
#pragma once

#include <cstdint>

namespace magi::cuda::ptx {

/// PTX ISA §special registers, %cluster_ctarank: this CTA's rank in its cluster.
__device__ __forceinline__ uint32_t cluster_ctarank() {
  uint32_t r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
  return r;
}

/// PTX ISA §mapa, .shared::cluster: the address in CTA `rank`'s shared memory of the variable
/// at `addr` (a 32-bit shared-window address) in this CTA's.
__device__ __forceinline__ uint32_t mapa_shared(uint32_t addr, uint32_t rank) {
  uint32_t r;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(r) : "r"(addr), "r"(rank));
  return r;
}

/// PTX ISA §mbarrier.arrive on a .shared::cluster address (mapa_shared): one arrival on a
/// barrier of this or another CTA of the cluster, with the default semantics (.release.cta).
/// NOTE: for a consumer's release of a stage that its partner's producer refills by TMA: the
/// stage's reads (wgmma, waited for) are complete before it. `.release.cluster` put four memory
/// barriers (MEMBAR.ALL.CTA, MEMBAR.ALL.GPU, ERRBAR, CGAERRBAR) before every such arrival on
/// sm_90a; this form is one SYNCS.ARRIVE.TRANS64.RED (bench/NOTES.md v44 item 6).
__device__ __forceinline__ void mbarrier_arrive_cluster(uint32_t cluster_addr) {
  asm volatile("mbarrier.arrive.shared::cluster.b64 _, [%0];\n" ::"r"(cluster_addr) : "memory");
}

/// PTX ISA §barrier.cluster.arrive, .release (not .aligned: the threads of a warp may come
/// one by one): this thread's arrival at the cluster's barrier.
__device__ __forceinline__ void cluster_arrive() {
  asm volatile("barrier.cluster.arrive.release;\n" ::: "memory");
}

/// PTX ISA §barrier.cluster.wait, .acquire: waits until every thread of every CTA of the
/// cluster has arrived at the barrier's current phase.
__device__ __forceinline__ void cluster_wait() {
  asm volatile("barrier.cluster.wait.acquire;\n" ::: "memory");
}

__device__ __forceinline__ void cluster_sync() {
  cluster_arrive();
  cluster_wait();
}

}  // namespace magi::cuda::ptx
