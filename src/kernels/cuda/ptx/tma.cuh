// Bulk tensor copies (TMA, sm_90): tensor-map loads into shared memory completing on an
// mbarrier, with an L2 cache policy; plain bulk loads; bulk-group completion; tensor-map
// prefetch.
#pragma once

#include <cstdint>

namespace magi::cuda::ptx {

/// PTX ISA §cp.async.bulk.tensor, .3d (global -> shared, tile mode, L2 cache hint):
/// the box at coordinates (c0, c1, c2) of `tmap` (innermost first) into `dst`; its bytes
/// complete transactions on `bar`. `tmap` is the generic address of a __grid_constant__ map.
__device__ __forceinline__ void tma_load_3d(uint32_t dst, const void* tmap, int32_t c0, int32_t c1,
                                            int32_t c2, uint32_t bar, uint64_t policy) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
      ".L2::cache_hint [%0], [%1, {%2, %3, %4}], [%5], %6;\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(tmap)), "r"(c0), "r"(c1), "r"(c2), "r"(bar), "l"(policy)
      : "memory");
}

/// tma_load_3d with .multicast::cluster: the box lands at `dst` in the shared memory of every
/// CTA of the cluster in `cta_mask` (bit r: rank r) and completes transactions on the barrier
/// at `bar` in each of them.
__device__ __forceinline__ void tma_load_3d_multicast(uint32_t dst, const void* tmap, int32_t c0,
                                                      int32_t c1, int32_t c2, uint32_t bar,
                                                      uint16_t cta_mask, uint64_t policy) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
      ".multicast::cluster.L2::cache_hint [%0], [%1, {%2, %3, %4}], [%5], %6, %7;\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(tmap)), "r"(c0), "r"(c1), "r"(c2), "r"(bar), "h"(cta_mask),
      "l"(policy)
      : "memory");
}

/// PTX ISA §cp.async.bulk.tensor, .3d (shared -> global, tile mode, bulk group): the box
/// at `src` to coordinates (c0, c1, c2); coordinates past the tensor's extent are not written.
__device__ __forceinline__ void tma_store_3d(const void* tmap, uint32_t src, int32_t c0, int32_t c1,
                                             int32_t c2) {
  asm volatile(
      "cp.async.bulk.tensor.3d.global.shared::cta.tile.bulk_group [%0, {%2, %3, %4}], [%1];\n" ::
          "l"(reinterpret_cast<uint64_t>(tmap)),
      "r"(src), "r"(c0), "r"(c1), "r"(c2)
      : "memory");
}

/// PTX ISA §cp.reduce.async.bulk.tensor, .3d .add (shared -> global, tile mode, bulk group):
/// adds the box at `src` into the tensor at coordinates (c0, c1, c2) (element type: the map's;
/// atomic per element in L2); coordinates past the tensor's extent are not touched.
__device__ __forceinline__ void tma_reduce_add_3d(const void* tmap, uint32_t src, int32_t c0,
                                                  int32_t c1, int32_t c2) {
  asm volatile(
      "cp.reduce.async.bulk.tensor.3d.global.shared::cta.add.tile.bulk_group"
      " [%0, {%2, %3, %4}], [%1];\n" ::"l"(reinterpret_cast<uint64_t>(tmap)),
      "r"(src), "r"(c0), "r"(c1), "r"(c2)
      : "memory");
}

/// PTX ISA §cp.async.bulk (global -> shared, no tensor map): `bytes` (a multiple of 16) from
/// `src` (16-byte aligned) to `dst`; they complete transactions on `bar`.
__device__ __forceinline__ void bulk_load(uint32_t dst, const void* src, uint32_t bytes,
                                          uint32_t bar) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::
          "r"(dst),
      "l"(src), "r"(bytes), "r"(bar)
      : "memory");
}

/// PTX ISA §cp.async.bulk.commit_group.
__device__ __forceinline__ void bulk_commit_group() {
  asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
}

/// PTX ISA §cp.async.bulk.wait_group, .read N: at most N bulk groups of this thread
/// still read their shared-memory source.
template <int N>
__device__ __forceinline__ void bulk_wait_group_read() {
  asm volatile("cp.async.bulk.wait_group.read %0;\n" ::"n"(N) : "memory");
}

/// PTX ISA §cp.async.bulk.wait_group N: at most N bulk groups of this thread are still
/// pending (their writes to global memory performed otherwise).
template <int N>
__device__ __forceinline__ void bulk_wait_group() {
  asm volatile("cp.async.bulk.wait_group %0;\n" ::"n"(N) : "memory");
}

/// PTX ISA §prefetch, .tensormap: brings a tensor map into the descriptor cache.
__device__ __forceinline__ void prefetch_tensormap(const void* tmap) {
  asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<uint64_t>(tmap)) : "memory");
}

/// PTX ISA §createpolicy, .fractional.L2::evict_first: data read once (Q tiles).
__device__ __forceinline__ uint64_t policy_evict_first() {
  uint64_t p;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(p));
  return p;
}

/// PTX ISA §createpolicy, .fractional.L2::evict_last: data many CTAs re-read (K/V).
__device__ __forceinline__ uint64_t policy_evict_last() {
  uint64_t p;
  asm volatile("createpolicy.fractional.L2::evict_last.b64 %0, 1.0;\n" : "=l"(p));
  return p;
}

}  // namespace magi::cuda::ptx
