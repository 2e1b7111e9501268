// DeviceSlots: one prepared state per device, built on first use and kept with its owner (an
// FfaWork, a RangeList). Backends keep here what a call would otherwise rebuild: the CPU its
// per-row key intervals, CUDA the work lists and range tables in device memory.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <mutex>

#include "magi/check.h"
#include "magi/tensor.h"

namespace magi {

/// Base of every backend's prepared state; the owner deletes it through this type.
class PreparedState {
 public:
  virtual ~PreparedState() = default;
};

class DeviceSlots {
 public:
  static constexpr int kMaxCudaDevices = 64;

  DeviceSlots() = default;
  ~DeviceSlots() {
    for (auto& s : slots_) delete s.load(std::memory_order_acquire);
  }
  DeviceSlots(const DeviceSlots&) = delete;
  DeviceSlots& operator=(const DeviceSlots&) = delete;

  /// The state of `device`, made by build() (returning std::unique_ptr<T>, T derived from
  /// PreparedState) the first time; later calls cost one atomic load. Thread-safe: build()
  /// runs at most once per device. A build() that throws leaves the slot empty.
  template <class T, class Build>
  const T& get(Device device, Build&& build) const {
    std::atomic<PreparedState*>& slot = slot_of(device);
    if (PreparedState* s = slot.load(std::memory_order_acquire)) return static_cast<const T&>(*s);
    std::lock_guard lock(mu_);
    if (PreparedState* s = slot.load(std::memory_order_relaxed)) return static_cast<const T&>(*s);
    std::unique_ptr<T> made = build();
    T* raw = made.release();
    slot.store(raw, std::memory_order_release);
    return *raw;
  }

 private:
  std::atomic<PreparedState*>& slot_of(Device d) const {
    if (d.type == DeviceType::kCPU) return slots_[kMaxCudaDevices];
    MAGI_CHECK(d.index >= 0 && d.index < kMaxCudaDevices, "device ", to_string(d),
               ": device indices must be below ", kMaxCudaDevices);
    return slots_[d.index];
  }

  mutable std::array<std::atomic<PreparedState*>, kMaxCudaDevices + 1> slots_{};  // CPU last
  mutable std::mutex mu_;
};

}  // namespace magi
