#include <atomic>

#include "kernels/backend.h"
#include "magi/check.h"

namespace magi {
namespace {

// NOTE: a function-local static, so that a registrar running during static initialisation of
// another library finds the registry constructed. Index: DeviceType.
std::atomic<const Backend*>* registry() {
  static std::atomic<const Backend*> slots[2] = {&cpu_backend(), nullptr};
  return slots;
}

}  // namespace

const Backend& backend_for(Device device, std::string_view fn) {
  const Backend* b = registry()[static_cast<int>(device.type)].load(std::memory_order_acquire);
  if (b == nullptr) {
    MAGI_FAIL(fn, ": tensors are on ", to_string(device), " but magi was built without CUDA");
  }
  return *b;
}

bool has_backend(DeviceType type) {
  return registry()[static_cast<int>(type)].load(std::memory_order_acquire) != nullptr;
}

const Backend* register_backend(DeviceType type, const Backend* backend) {
  return registry()[static_cast<int>(type)].exchange(backend, std::memory_order_acq_rel);
}

Allocator& default_allocator(DeviceType type) {
  return backend_for(Device{type, 0}, "default_allocator").allocator();
}

void release_pool_memory() {
  for (int t = 0; t < 2; ++t) {
    if (const Backend* b = registry()[t].load(std::memory_order_acquire))
      b->release_cached_memory();
  }
}

}  // namespace magi
