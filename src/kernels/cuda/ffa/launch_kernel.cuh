// One launch of an FFA kernel: its dynamic shared-memory limit raised once per device, the
// launch checked. For the launchers (CUDA units only).
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/ffa/device_info.h"

namespace magi::cuda {

/// kKernel<<<grid, threads, smem, stream>>>(p), raising kKernel's dynamic shared-memory limit
/// to `smem` on the current device first (the kernel is a template argument, so each kernel
/// has its own flag word).
template <auto kKernel, class Params>
void launch_kernel(int grid, int threads, int smem, cudaStream_t stream, const Params& p) {
  static std::atomic<uint64_t> smem_set{0};
  set_smem_once(kKernel, smem, smem_set);
  kKernel<<<grid, threads, smem, stream>>>(p);
  MAGI_CUDA_CHECK(cudaGetLastError());
}

/// The Softcap::kOn (`softcap`) or Softcap::kOff instance of a kernel template.
template <auto kOn, auto kOff, class Params>
void launch_softcap_variant(bool softcap, int grid, int threads, int smem, cudaStream_t stream,
                            const Params& p) {
  if (softcap) {
    launch_kernel<kOn>(grid, threads, smem, stream, p);
  } else {
    launch_kernel<kOff>(grid, threads, smem, stream, p);
  }
}

}  // namespace magi::cuda
