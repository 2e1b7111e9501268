// Per-device facts and attributes the launchers need, cached per device (host only).
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>

#include "kernels/cuda/cuda_check.h"
#include "magi/check.h"

namespace magi::cuda {

/// Multiprocessors of the current device.
int current_sm_count();

/// Bytes of L2 cache of the current device.
int64_t current_l2_bytes();

/// Raises a kernel's dynamic shared-memory limit once per device (`done`: one bit per device,
/// one flag word per kernel). Throws, naming both sizes, when the device allows a block less
/// (docs/cuda.md: the portable backward takes 145-171 KB from head dim 128 on).
template <class Kernel>
void set_smem_once(Kernel kernel, int bytes, std::atomic<uint64_t>& done) {
  int dev = 0;
  MAGI_CUDA_CHECK(cudaGetDevice(&dev));
  const uint64_t bit = uint64_t{1} << (dev & 63);
  if (done.load(std::memory_order_acquire) & bit) return;
  int optin = 0;
  MAGI_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  MAGI_CHECK(bytes <= optin, "FFA CUDA: this kernel needs ", bytes,
             " bytes of shared memory per block; device ", dev, " allows ", optin,
             "; a GPU with more shared memory per block (a Hopper GPU) runs this head dim");
  MAGI_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
  done.fetch_or(bit, std::memory_order_release);
}

}  // namespace magi::cuda
