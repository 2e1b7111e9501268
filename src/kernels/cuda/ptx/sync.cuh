// Ordering between CTAs through global memory: acquire loads, release stores, GPU-scope
// fences (the deterministic backward's turn counters, the dQ cast's counters and queue).
#pragma once

#include <cstdint>

namespace magi::cuda::ptx {

/// PTX ISA §ld, .acquire.gpu: later memory operations of this thread stay after the load.
__device__ __forceinline__ int ld_acquire_gpu(const int* p) {
  int v;
  asm volatile("ld.acquire.gpu.global.b32 %0, [%1];\n" : "=r"(v) : "l"(p) : "memory");
  return v;
}

/// PTX ISA §ld, .relaxed.gpu: a load that sees other CTAs' stores (no ordering; polling).
__device__ __forceinline__ int ld_relaxed_gpu(const int* p) {
  int v;
  asm volatile("ld.relaxed.gpu.global.b32 %0, [%1];\n" : "=r"(v) : "l"(p) : "memory");
  return v;
}

/// PTX ISA §nanosleep: suspends the thread for about `ns` nanoseconds (at most 1 ms).
__device__ __forceinline__ void nanosleep(uint32_t ns) {
  asm volatile("nanosleep.u32 %0;\n" ::"r"(ns));
}

/// PTX ISA §st, .release.gpu: earlier memory operations of this thread are visible first.
__device__ __forceinline__ void st_release_gpu(int* p, int v) {
  asm volatile("st.release.gpu.global.b32 [%0], %1;\n" ::"l"(p), "r"(v) : "memory");
}

/// PTX ISA §atom, .acq_rel.gpu: *p += v atomically, returning the old value; earlier memory
/// operations of this thread are visible to whoever later observes the sum, and the ones this
/// thread makes after see what was visible to the earlier adders (the dQ cast's counters).
__device__ __forceinline__ int atom_add_acq_rel_gpu(int* p, int v) {
  int old;
  asm volatile("atom.acq_rel.gpu.global.add.s32 %0, [%1], %2;\n"
               : "=r"(old)
               : "l"(p), "r"(v)
               : "memory");
  return old;
}

/// PTX ISA §membar/fence, fence.acq_rel.gpu: orders this thread's memory operations at GPU
/// scope (its reductions to global memory are visible to a thread that later observes a flag
/// written after the fence).
__device__ __forceinline__ void fence_acq_rel_gpu() {
  asm volatile("fence.acq_rel.gpu;\n" ::: "memory");
}

/// PTX ISA §membar/fence, fence.proxy.async.global: orders this thread's generic-proxy and
/// async-proxy (bulk copies, TMA reductions) accesses of global memory, so a turn taken with
/// an acquire load covers the reductions issued after it, and one passed with a release store
/// covers the completed reductions before it.
__device__ __forceinline__ void fence_proxy_async_global() {
  asm volatile("fence.proxy.async.global;\n" ::: "memory");
}

}  // namespace magi::cuda::ptx
