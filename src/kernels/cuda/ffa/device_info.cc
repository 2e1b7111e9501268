#include "kernels/cuda/ffa/device_info.h"

namespace magi::cuda {

int current_sm_count() {
  constexpr int kMaxDevices = 64;
  static std::atomic<int> counts[kMaxDevices] = {};
  int dev = 0;
  MAGI_CUDA_CHECK(cudaGetDevice(&dev));
  if (dev >= 0 && dev < kMaxDevices) {
    const int known = counts[dev].load(std::memory_order_relaxed);
    if (known > 0) return known;
  }
  int n = 0;
  MAGI_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev));
  if (dev >= 0 && dev < kMaxDevices) counts[dev].store(n, std::memory_order_relaxed);
  return n;
}

}  // namespace magi::cuda
