// Development probe of the Hopper backward's tiles (-DMAGI_FFA_BWD_TIMELINE=1; compiled out
// otherwise): each CTA records its SM and the GPU's nanosecond timer at its entry, once past the
// wait for the previous kernel (griddep_wait: with programmatic launch the CTAs enter while the
// preprocess still runs), at the end of each of its first kBwdTimelineTiles tiles (consumer
// warpgroup 0, after the tile's dK / dV) and at its end; after the process's 4th launch of a
// unit's backward the host prints one line per CTA: its SM, entry, wait's end, each tile's end
// and its end in ns from the earliest entry, and each tile's work item (from the list's item
// count on, a piece of a cut tile), and with the dQ cast by the kernel a line of its times.
// Questions it answers: whether the CTAs of a plan all run slower or a few end late
// (bench/NOTES.md v53), how the CTAs sit on the SMs (v54), what the dQ cast costs (v57).
#pragma once

#include <cstdint>
#include <cstdio>

#include <cuda_runtime.h>

#include "kernels/cuda/ptx/timer.cuh"

namespace magi::cuda::sm90 {

inline constexpr int kBwdTimelineTiles = 16;

#if MAGI_FFA_BWD_TIMELINE
struct BwdTimelineCta {
  uint64_t ns_entry, ns_ready, ns_end;
  uint64_t ns_tile[kBwdTimelineTiles];
  int32_t item[kBwdTimelineTiles];
  int32_t tiles;  // tiles run (those past kBwdTimelineTiles counted, not timed)
  uint32_t sm;
  // The dQ cast by the kernel (bwd_ws_dq_cast.cuh): blocks cast, their time in all
  // and the longest, the tiles counted down and their count-downs' time in all and the
  // longest, and the dQ writer's time waiting for a queue slot.
  uint32_t cast_halves, counts;
  unsigned long long ns_cast, ns_cast_max, ns_count, ns_count_max, ns_post_wait;
};
static __device__ BwdTimelineCta g_bwd_timeline[1024];

/// The CTA's entry (thread 0, before the barriers' __syncthreads orders it for the roles).
/// NOTE: no printf in the kernel: a call anywhere serialises its wgmma (ptxas C7510).
__device__ __forceinline__ void bwd_mark_entry() {
  if (blockIdx.x >= 1024) return;
  BwdTimelineCta& me = g_bwd_timeline[blockIdx.x];
  me.tiles = 0;
  me.sm = ptx::smid();
  me.cast_halves = me.counts = 0;
  me.ns_cast = me.ns_cast_max = me.ns_count = me.ns_count_max = me.ns_post_wait = 0;
  me.ns_entry = ptx::globaltimer();
}

/// Past griddep_wait (thread 0).
__device__ __forceinline__ void bwd_mark_ready() {
  if (blockIdx.x < 1024) g_bwd_timeline[blockIdx.x].ns_ready = ptx::globaltimer();
}

/// A tile of work item `item` done (one consumer thread).
__device__ __forceinline__ void bwd_mark_tile(int32_t item) {
  if (blockIdx.x >= 1024) return;
  BwdTimelineCta& me = g_bwd_timeline[blockIdx.x];
  if (me.tiles < kBwdTimelineTiles) {
    me.ns_tile[me.tiles] = ptx::globaltimer();
    me.item[me.tiles] = item;
  }
  ++me.tiles;
}

/// The CTA's last tile done (the same consumer thread).
__device__ __forceinline__ void bwd_mark_end() {
  if (blockIdx.x < 1024) g_bwd_timeline[blockIdx.x].ns_end = ptx::globaltimer();
}

/// A block cast from `ns_begin` on (lane 0 of the casting warp).
__device__ __forceinline__ void bwd_mark_cast(uint64_t ns_begin) {
  if (blockIdx.x >= 1024) return;
  BwdTimelineCta& me = g_bwd_timeline[blockIdx.x];
  const unsigned long long ns = ptx::globaltimer() - ns_begin;
  atomicAdd(&me.cast_halves, 1u);
  atomicAdd(&me.ns_cast, ns);
  atomicMax(&me.ns_cast_max, ns);
}

/// A batch of `tiles` counted down from `ns_begin` on (lane 0 of the casting warp).
__device__ __forceinline__ void bwd_mark_count(uint64_t ns_begin, uint32_t tiles) {
  if (blockIdx.x >= 1024) return;
  BwdTimelineCta& me = g_bwd_timeline[blockIdx.x];
  const unsigned long long ns = ptx::globaltimer() - ns_begin;
  atomicAdd(&me.counts, tiles);
  atomicAdd(&me.ns_count, ns);
  atomicMax(&me.ns_count_max, ns);
}

/// The dQ writer waited for a queue slot from `ns_begin` on.
__device__ __forceinline__ void bwd_mark_post_wait(uint64_t ns_begin) {
  if (blockIdx.x < 1024) g_bwd_timeline[blockIdx.x].ns_post_wait += ptx::globaltimer() - ns_begin;
}

/// Host, after each backward launch of this unit's kernel: at the process's 4th, waits for it
/// and prints one line per CTA (stderr).
static inline void bwd_timeline_report(int grid, cudaStream_t stream) {
  static int launches = 0;
  if (++launches != 4) return;
  static BwdTimelineCta h[1024];
  const int n = grid < 1024 ? grid : 1024;
  if (cudaStreamSynchronize(stream) != cudaSuccess ||
      cudaMemcpyFromSymbol(h, g_bwd_timeline, n * sizeof(BwdTimelineCta)) != cudaSuccess) {
    std::fprintf(stderr, "bwd timeline: no marks (%s)\n", cudaGetErrorString(cudaGetLastError()));
    return;
  }
  uint64_t t0 = h[0].ns_entry;
  for (int b = 1; b < n; ++b) t0 = h[b].ns_entry < t0 ? h[b].ns_entry : t0;
  const auto at = [&](uint64_t ns) { return static_cast<long long>(ns - t0); };
  for (int b = 0; b < n; ++b) {
    const BwdTimelineCta& c = h[b];
    std::fprintf(stderr, "bwd timeline cta %d sm %u entry %lld ready %lld end %lld tiles %d:", b,
                 c.sm, at(c.ns_entry), at(c.ns_ready), at(c.ns_end), c.tiles);
    for (int k = 0; k < c.tiles && k < kBwdTimelineTiles; ++k) {
      std::fprintf(stderr, " %d@%lld", c.item[k], at(c.ns_tile[k]));
    }
    std::fprintf(stderr, "\n");
    if (c.counts > 0 || c.ns_post_wait > 0) {
      std::fprintf(stderr,
                   "bwd cast cta %d blocks %u ns %llu max %llu counts %u ns %llu max %llu "
                   "post_wait %llu\n",
                   b, c.cast_halves, c.ns_cast, c.ns_cast_max, c.counts, c.ns_count, c.ns_count_max,
                   c.ns_post_wait);
    }
  }
}
#define MAGI_BWD_MARK(cond, call) \
  do {                            \
    if (cond) call;               \
  } while (0)
#define MAGI_BWD_CLOCK(var) const uint64_t var = ptx::globaltimer()
#else
#define MAGI_BWD_MARK(cond, call) \
  do {                            \
  } while (0)
#define MAGI_BWD_CLOCK(var) \
  do {                      \
  } while (0)
static inline void bwd_timeline_report(int, cudaStream_t) {}
#endif

}  // namespace magi::cuda::sm90
