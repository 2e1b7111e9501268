// One launch of an FFA kernel: its dynamic shared-memory limit raised once per device, the
// launch checked. For the launchers (CUDA units only).
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/ffa/device_info.h"

namespace magi::cuda {

/// How a kernel follows the stream's previous one: in plain stream order, or programmatically
/// (ptx/grid_dependency.cuh: its launch and prologue overlap the previous kernel's tail) as a
/// main kernel (after the backward's preprocess or the previous call's kernels) or as a merge
/// kernel (after its main kernel).
enum class Follow { kStreamOrder, kMain, kMerge };

/// Whether a kernel that may follow as `f` is launched programmatically. Development filter
/// MAGI_FFA_PDL: 0 none (bench/NOTES.md v33), 2 main kernels only, 3 merge kernels only;
/// unset or else both.
inline bool programmatic_launch_enabled(Follow f) {
  static const char mode = [] {
    const char* env = std::getenv("MAGI_FFA_PDL");
    return env == nullptr ? '1' : env[0];
  }();
  if (f == Follow::kStreamOrder || mode == '0') return false;
  if (mode == '2') return f == Follow::kMain;
  if (mode == '3') return f == Follow::kMerge;
  return true;
}

/// A launch of `grid` CTAs of `threads` with `smem` bytes of dynamic shared memory on `stream`,
/// with the attributes attrs[0, n): programmatic serialisation (`pdl`) and clusters of
/// `cluster` CTAs (> 1), for cudaLaunchKernelEx and cudaOccupancyMaxActiveClusters alike.
struct LaunchConfig {
  cudaLaunchAttribute attrs[2]{};
  cudaLaunchConfig_t cfg{};

  LaunchConfig(int grid, int threads, int smem, cudaStream_t stream, bool pdl, int cluster) {
    unsigned n = 0;
    if (pdl) {
      attrs[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
      attrs[n++].val.programmaticStreamSerializationAllowed = 1;
    }
    if (cluster > 1) {
      attrs[n].id = cudaLaunchAttributeClusterDimension;
      attrs[n++].val.clusterDim = {static_cast<unsigned>(cluster), 1, 1};
    }
    cfg.gridDim = dim3(static_cast<unsigned>(grid));
    cfg.blockDim = dim3(static_cast<unsigned>(threads));
    cfg.dynamicSmemBytes = static_cast<size_t>(smem);
    cfg.stream = stream;
    cfg.attrs = attrs;
    cfg.numAttrs = n;
  }
  LaunchConfig(const LaunchConfig&) = delete;  // cfg points into attrs
};

/// kKernel<<<grid, threads, smem, stream>>>(p), raising kKernel's dynamic shared-memory limit
/// to `smem` on the current device first (the kernel is a template argument, so each kernel
/// has its own flag word). `follow` other than kStreamOrder: with
/// cudaLaunchAttributeProgrammaticStreamSerialization where programmatic_launch_enabled (the
/// kernel calls ptx::griddep_wait() before any global memory access). `cluster` > 1: in
/// clusters of that many CTAs (grid a multiple of it).
template <auto kKernel, class Params>
void launch_kernel(int grid, int threads, int smem, cudaStream_t stream, const Params& p,
                   Follow follow = Follow::kStreamOrder, int cluster = 1) {
  static std::atomic<uint64_t> smem_set{0};
  set_smem_once(kKernel, smem, smem_set);
  const bool pdl = programmatic_launch_enabled(follow);
  if (!pdl && cluster == 1) {
    kKernel<<<grid, threads, smem, stream>>>(p);
    MAGI_CUDA_CHECK(cudaGetLastError());
    return;
  }
  const LaunchConfig l(grid, threads, smem, stream, pdl, cluster);
  MAGI_CUDA_CHECK(cudaLaunchKernelEx(&l.cfg, kKernel, p));
}

/// How many clusters of `cluster` CTAs of kKernel (`threads`, `smem`) the current device runs
/// at once (cudaOccupancyMaxActiveClusters). Asked once per kernel and device (the first call's
/// cluster size answers for the process).
template <auto kKernel>
int max_active_clusters(int threads, int smem, int cluster) {
  static std::atomic<int> cached[64];  // per device (ordinal & 63), 0: not asked yet
  int dev = 0;
  MAGI_CUDA_CHECK(cudaGetDevice(&dev));
  std::atomic<int>& slot = cached[dev & 63];
  if (const int n = slot.load(); n > 0) return n - 1;
  static std::atomic<uint64_t> smem_set{0};
  set_smem_once(kKernel, smem, smem_set);
  const LaunchConfig l(cluster, threads, smem, nullptr, /*pdl=*/false, cluster);
  int n = 0;
  MAGI_CUDA_CHECK(cudaOccupancyMaxActiveClusters(&n, kKernel, &l.cfg));
  slot.store(n + 1);
  return n;
}

/// The Softcap::kOn (`softcap`) or Softcap::kOff instance of a kernel template.
template <auto kOn, auto kOff, class Params>
void launch_softcap_variant(bool softcap, int grid, int threads, int smem, cudaStream_t stream,
                            const Params& p, Follow follow = Follow::kStreamOrder,
                            int cluster = 1) {
  if (softcap) {
    launch_kernel<kOn>(grid, threads, smem, stream, p, follow, cluster);
  } else {
    launch_kernel<kOff>(grid, threads, smem, stream, p, follow, cluster);
  }
}

}  // namespace magi::cuda
