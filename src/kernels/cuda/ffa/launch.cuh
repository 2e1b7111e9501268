// Launcher templates; included only by the generated instantiation units.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/ffa/bwd_kernel.cuh"
#include "kernels/cuda/ffa/fwd_kernel.cuh"
#include "kernels/cuda/ffa/launch.h"

namespace magi::cuda {

/// Raises a kernel's dynamic shared-memory limit once per device.
template <class Kernel>
void set_smem_once(Kernel kernel, int bytes, std::atomic<uint64_t>& done) {
  int dev = 0;
  MAGI_CUDA_CHECK(cudaGetDevice(&dev));
  const uint64_t bit = uint64_t{1} << (dev & 63);
  if (done.load(std::memory_order_relaxed) & bit) return;
  MAGI_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
  done.fetch_or(bit);
}

template <Elem E, int kHeadDim>
void launch_fwd(const FwdParams& p, int grid, void* stream) {
  using Tr = FwdTraits<E, kHeadDim>;
  static_assert(Tr::kBlockM == kFwdBlockM);
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (p.use_softcap) {
    static std::atomic<uint64_t> smem_set{0};
    set_smem_once(ffa_fwd_kernel<Tr, Softcap::kOn>, Tr::kSmemBytes, smem_set);
    ffa_fwd_kernel<Tr, Softcap::kOn><<<grid, Tr::kThreads, Tr::kSmemBytes, s>>>(p);
  } else {
    static std::atomic<uint64_t> smem_set{0};
    set_smem_once(ffa_fwd_kernel<Tr, Softcap::kOff>, Tr::kSmemBytes, smem_set);
    ffa_fwd_kernel<Tr, Softcap::kOff><<<grid, Tr::kThreads, Tr::kSmemBytes, s>>>(p);
  }
  MAGI_CUDA_CHECK(cudaGetLastError());
}

template <Elem E, int kHeadDim>
void launch_bwd(const BwdParams& p, int grid, void* stream) {
  using Tr = BwdTraits<E, kHeadDim>;
  static_assert(Tr::kBlockN == kBwdBlockN);
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (p.use_softcap) {
    static std::atomic<uint64_t> smem_set{0};
    set_smem_once(ffa_bwd_kernel<Tr, Softcap::kOn>, Tr::kSmemBytes, smem_set);
    ffa_bwd_kernel<Tr, Softcap::kOn><<<grid, Tr::kThreads, Tr::kSmemBytes, s>>>(p);
  } else {
    static std::atomic<uint64_t> smem_set{0};
    set_smem_once(ffa_bwd_kernel<Tr, Softcap::kOff>, Tr::kSmemBytes, smem_set);
    ffa_bwd_kernel<Tr, Softcap::kOff><<<grid, Tr::kThreads, Tr::kSmemBytes, s>>>(p);
  }
  MAGI_CUDA_CHECK(cudaGetLastError());
}

}  // namespace magi::cuda
