#include "kernels/cuda/cuda_pool.h"

#include <cuda_runtime_api.h>

#include <map>
#include <mutex>
#include <tuple>
#include <unordered_map>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_memory.h"

namespace magi::cuda {
namespace {

struct Block {
  size_t bytes;
  int device;
  void* stream;
};

class Pool final : public Allocator {
 public:
  void* allocate(size_t bytes, Device device, void* stream) override {
    const size_t want = round_up(bytes);
    {
      std::lock_guard lock(mu_);
      auto& free = free_[{device.index, stream}];
      // The smallest idle block that fits, unless it would waste more than half of itself.
      auto it = free.lower_bound(want);
      if (it != free.end() && it->first <= 2 * want) {
        void* p = it->second;
        free.erase(it);
        return p;
      }
    }
    DeviceGuard guard(device.index);
    void* p = nullptr;
    MAGI_CUDA_CHECK(cudaMalloc(&p, want));
    std::lock_guard lock(mu_);
    blocks_[p] = {want, device.index, stream};
    return p;
  }

  void deallocate(void* p, size_t, Device, void*) noexcept override {
    std::lock_guard lock(mu_);
    const auto it = blocks_.find(p);
    if (it == blocks_.end()) return;
    // NOTE: kept for its stream: work queued there later runs after the work that used it.
    free_[{it->second.device, it->second.stream}].emplace(it->second.bytes, p);
  }

  void release() {
    std::lock_guard lock(mu_);
    for (auto& [owner, free] : free_) {
      for (auto& [bytes, p] : free) {
        const int dev = blocks_[p].device;
        int prev = 0;
        cudaGetDevice(&prev);
        cudaSetDevice(dev);
        cudaFree(p);
        cudaSetDevice(prev);
        blocks_.erase(p);
      }
    }
    free_.clear();
  }

 private:
  static size_t round_up(size_t bytes) {
    constexpr size_t kSmall = 512, kLarge = size_t{2} << 20;
    const size_t unit = bytes < kLarge ? kSmall : kLarge;
    return (bytes + unit - 1) / unit * unit;
  }

  std::mutex mu_;
  std::unordered_map<void*, Block> blocks_;                              // every block made
  std::map<std::tuple<int, void*>, std::multimap<size_t, void*>> free_;  // idle, per owner
};

Pool& pool() {
  // NOTE: never destroyed: blocks outlive static destruction (the driver frees them at exit).
  static Pool* p = new Pool;
  return *p;
}

}  // namespace

Allocator& pool_allocator() { return pool(); }

void release_pool() { pool().release(); }

}  // namespace magi::cuda
