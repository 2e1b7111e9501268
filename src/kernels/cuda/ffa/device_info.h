// Per-device facts and attributes the launchers need, cached per device (host only).
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>

#include "kernels/cuda/cuda_check.h"

namespace magi::cuda {

/// Multiprocessors of the current device.
int current_sm_count();

/// Raises a kernel's dynamic shared-memory limit once per device (`done`: one bit per device,
/// one flag word per kernel).
template <class Kernel>
void set_smem_once(Kernel kernel, int bytes, std::atomic<uint64_t>& done) {
  int dev = 0;
  MAGI_CUDA_CHECK(cudaGetDevice(&dev));
  const uint64_t bit = uint64_t{1} << (dev & 63);
  if (done.load(std::memory_order_acquire) & bit) return;
  MAGI_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
  done.fetch_or(bit, std::memory_order_release);
}

}  // namespace magi::cuda
