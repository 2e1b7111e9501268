// Device memory helpers of the CUDA backend (host code): a device guard, and a buffer uploaded
// once from host memory and freed with its owner (the prepared forms of an FfaWork or a
// RangeList).
#pragma once

#include <cstddef>

namespace magi::cuda {

/// Makes `device` current for a scope and restores the caller's device.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_ = 0;
  bool set_ = false;
};

/// `bytes` of host data copied into a new allocation on the current device, `device`. The copy
/// runs on `stream` and is waited for, so that any later launch, on any stream, sees it: a
/// one-time cost per prepared object. Throws with a clear message when `stream` is being
/// captured into a CUDA graph (the allocation and the wait cannot be captured).
class UploadedBuffer {
 public:
  UploadedBuffer(const void* host, size_t bytes, int device, void* stream, const char* what);
  ~UploadedBuffer();
  UploadedBuffer(const UploadedBuffer&) = delete;
  UploadedBuffer& operator=(const UploadedBuffer&) = delete;
  const void* data() const { return data_; }

 private:
  void* data_ = nullptr;
  int device_ = 0;
};

}  // namespace magi::cuda
