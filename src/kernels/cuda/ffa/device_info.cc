#include "kernels/cuda/ffa/device_info.h"

namespace magi::cuda {

namespace {

constexpr int kMaxDevices = 64;  // devices whose attributes are cached (others ask each time)

/// Attribute `attr` of the current device, asked once per device (a positive value).
int cached_attribute(cudaDeviceAttr attr, std::atomic<int> (&known)[kMaxDevices]) {
  int dev = 0;
  MAGI_CUDA_CHECK(cudaGetDevice(&dev));
  const bool cacheable = dev >= 0 && dev < kMaxDevices;
  if (cacheable) {
    if (const int v = known[dev].load(std::memory_order_relaxed); v > 0) return v;
  }
  int v = 0;
  MAGI_CUDA_CHECK(cudaDeviceGetAttribute(&v, attr, dev));
  if (cacheable) known[dev].store(v, std::memory_order_relaxed);
  return v;
}

}  // namespace

int current_sm_count() {
  static std::atomic<int> counts[kMaxDevices] = {};
  return cached_attribute(cudaDevAttrMultiProcessorCount, counts);
}

int64_t current_l2_bytes() {
  static std::atomic<int> sizes[kMaxDevices] = {};
  return cached_attribute(cudaDevAttrL2CacheSize, sizes);
}

}  // namespace magi::cuda
