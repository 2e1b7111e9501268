// Development probe of the Hopper forward's start and end (-DMAGI_FFA_FWD_TIMELINE=1; compiled
// out otherwise): each CTA records the SM's cycle counter at a few marks of its first item and
// its end; after the process's 4th launch of a unit's forward (warm caches, clocks up) the host
// prints one line per CTA: cycles from the kernel's entry to each mark, and the global timer at
// entry and end (ns) to place the CTAs on one axis. Question it answers: what a CTA's first item
// costs beyond the steady state's per-item time (bench/NOTES.md v47).
#pragma once

#include <cstdint>
#include <cstdio>

#include <cuda_runtime.h>

#include "kernels/cuda/ptx/timer.cuh"

namespace magi::cuda::sm90 {

enum FwdMark : int {
  kMarkEntry,     // the kernel's first instruction (thread 0)
  kMarkProdItem,  // the producer knows its first item (work stream read)
  kMarkProdQ,     // ... has issued its first Q load
  kMarkConsQ,     // consumer warpgroup 0: its first Q has landed
  kMarkConsS,     // ... its first S is done (first K landed, product complete)
  kMarkConsItem,  // ... its first item is finished (epilogue issued)
  kMarkConsEnd,   // ... its last item is finished
  kMarks
};

#if MAGI_FFA_FWD_TIMELINE
struct FwdTimelineCta {
  uint64_t t[kMarks];
  uint64_t ns_entry, ns_end;
};
static __device__ FwdTimelineCta g_fwd_timeline[1024];

/// Records mark `m` for this CTA at its first call in this launch (one thread calls it; the
/// entry clears the CTA's marks before the barriers' __syncthreads orders them for the roles).
/// NOTE: no printf here: a call anywhere in the kernel serialises its wgmma (ptxas C7510).
__device__ __forceinline__ void fwd_mark(int m) {
  if (blockIdx.x >= 1024) return;
  FwdTimelineCta& me = g_fwd_timeline[blockIdx.x];
  if (m == kMarkEntry) {
    for (int k = 1; k < kMarks; ++k) me.t[k] = 0;
    me.ns_entry = ptx::globaltimer();
  } else if (me.t[m] != 0) {
    return;
  }
  me.t[m] = ptx::clock64();
  if (m == kMarkConsEnd) me.ns_end = ptx::globaltimer();
}

/// Host, after each forward launch of this unit's kernels: at the process's 4th, waits for it
/// and prints one line per CTA (stderr).
static inline void fwd_timeline_report(int grid, cudaStream_t stream) {
  static int launches = 0;
  if (++launches != 4) return;
  static FwdTimelineCta h[1024];
  const int n = grid < 1024 ? grid : 1024;
  if (cudaStreamSynchronize(stream) != cudaSuccess ||
      cudaMemcpyFromSymbol(h, g_fwd_timeline, n * sizeof(FwdTimelineCta)) != cudaSuccess) {
    std::fprintf(stderr, "fwd timeline: no marks (%s)\n", cudaGetErrorString(cudaGetLastError()));
    return;
  }
  for (int b = 0; b < n; ++b) {
    const FwdTimelineCta& c = h[b];
    const auto d = [&](int k) { return static_cast<long long>(c.t[k] - c.t[kMarkEntry]); };
    std::fprintf(stderr,
                 "timeline cta %d entry_ns %llu end_ns %llu prod_item %lld prod_q %lld cons_q "
                 "%lld cons_s %lld cons_item %lld cons_end %lld\n",
                 b, static_cast<unsigned long long>(c.ns_entry),
                 static_cast<unsigned long long>(c.ns_end), d(kMarkProdItem), d(kMarkProdQ),
                 d(kMarkConsQ), d(kMarkConsS), d(kMarkConsItem), d(kMarkConsEnd));
  }
}
#define MAGI_FWD_MARK(cond, m) \
  do {                         \
    if (cond) fwd_mark(m);     \
  } while (0)
#else
#define MAGI_FWD_MARK(cond, m) \
  do {                         \
  } while (0)
static inline void fwd_timeline_report(int, cudaStream_t) {}
#endif

}  // namespace magi::cuda::sm90
