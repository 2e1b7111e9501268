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

/// The registry's slot of `type` (an error for a value outside DeviceType's).
std::atomic<const Backend*>& slot(DeviceType type, std::string_view fn) {
  const int t = static_cast<int>(type);
  MAGI_CHECK(t == static_cast<int>(DeviceType::kCPU) || t == static_cast<int>(DeviceType::kCUDA),
             fn, ": device type ", t, " is neither CPU nor CUDA");
  return registry()[t];
}

}  // namespace

const Backend& backend_for(Device device, std::string_view fn) {
  const Backend* b = slot(device.type, fn).load(std::memory_order_acquire);
  if (b == nullptr) {
    MAGI_FAIL(fn, ": tensors are on ", to_string(device), " but magi was built without CUDA");
  }
  return *b;
}

bool has_backend(DeviceType type) {
  return slot(type, "has_backend").load(std::memory_order_acquire) != nullptr;
}

const Backend* register_backend(DeviceType type, const Backend* backend) {
  return slot(type, "register_backend").exchange(backend, std::memory_order_acq_rel);
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
