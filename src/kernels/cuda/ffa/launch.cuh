// Launcher templates; included only by the generated instantiation units.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/ffa/bwd_kernel.cuh"
#include "kernels/cuda/ffa/device_info.h"
#include "kernels/cuda/ffa/fwd_kernel.cuh"
#include "kernels/cuda/ffa/launch.h"
#include "kernels/cuda/ffa/launch_kernel.cuh"
#include "kernels/cuda/ffa/sm90/bwd_ws_launch.cuh"
#include "kernels/cuda/ffa/sm90/fwd_launch.cuh"

namespace magi::cuda {

/// Whether the current device runs the Hopper kernels: built with sm_90a (MAGI_HAVE_SM90A),
/// a compute capability 9.0 device, and MAGI_FFA_PORTABLE unset or 0 (which forces the
/// portable kernels, for testing both paths on one machine). Cached per device.
inline bool use_sm90_kernels() {
#if MAGI_HAVE_SM90A
  static const bool forced_portable = [] {
    const char* env = std::getenv("MAGI_FFA_PORTABLE");
    return env != nullptr && env[0] != '\0' && env[0] != '0';
  }();
  if (forced_portable) return false;
  static std::atomic<uint64_t> known{0}, hopper{0};
  int dev = 0;
  MAGI_CUDA_CHECK(cudaGetDevice(&dev));
  const uint64_t bit = uint64_t{1} << (dev & 63);
  if (!(known.load(std::memory_order_acquire) & bit)) {
    int major = 0, minor = 0;
    MAGI_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    MAGI_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
    if (major == 9 && minor == 0) hopper.fetch_or(bit);
    known.fetch_or(bit, std::memory_order_release);
  }
  return (hopper.load(std::memory_order_relaxed) & bit) != 0;
#else
  return false;
#endif
}

template <Elem E, int kHeadDim, int kHeadDimV>
void launch_fwd(const FwdParams& p, int grid, void* stream) {
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (use_sm90_kernels()) {
    static_assert(sm90::FwdTraits<E, kHeadDim>::kBlockM == kFwdBlockM);
    sm90::launch_fwd<E, kHeadDim, kHeadDimV>(p, s);
    return;
  }
  using Tr = FwdTraits<E, kHeadDim, kHeadDimV>;
  static_assert(Tr::kBlockM == kFwdBlockM);
  MAGI_CHECK(p.block_m == kFwdBlockM, "FFA CUDA: the portable forward runs ", kFwdBlockM,
             "-row items, not ", p.block_m);
  launch_softcap_variant<ffa_fwd_kernel<Tr, Softcap::kOn>, ffa_fwd_kernel<Tr, Softcap::kOff>>(
      p.use_softcap, grid, Tr::kThreads, Tr::kSmemBytes, s, p);
}

template <Elem E, int kHeadDim, int kHeadDimV>
void launch_bwd(const BwdParams& p, const BwdStats* ws_stats, int grid, void* stream) {
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (ws_stats != nullptr) {
    using WsTr = sm90::BwdWsTraits<E, kHeadDim, false, kHeadDimV>;
    static_assert(WsTr::kBlockN == kBwdBlockN && WsTr::kBlockM == kBwdBlockM);
    sm90::launch_bwd_ws<E, kHeadDim, kHeadDimV>(p, *ws_stats, s);
    return;
  }
  // The portable backward (on Hopper the warp-specialised one runs: ws_stats). Above head dim
  // 128, one CTA per (item, head, key pass): traits.cuh, BwdTraits::kPasses.
  using Tr = BwdTraits<E, kHeadDim, kHeadDimV>;
  static_assert(Tr::kBlockN * Tr::kPasses == kBwdBlockN);
  MAGI_CHECK(grid <= INT32_MAX / Tr::kPasses, "FFA CUDA: grid of ", grid, " x ", Tr::kPasses,
             " blocks is too large");
  launch_softcap_variant<ffa_bwd_kernel<Tr, Softcap::kOn>, ffa_bwd_kernel<Tr, Softcap::kOff>>(
      p.use_softcap, grid * Tr::kPasses, Tr::kThreads, Tr::kSmemBytes, s, p);
}

}  // namespace magi::cuda
