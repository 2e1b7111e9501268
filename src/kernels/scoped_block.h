// ScopedBlock: one Allocator block for the duration of a call (nothing when bytes == 0), given
// back at scope exit after the call's work has been queued on `stream`.
#pragma once

#include <cstddef>

#include "magi/workspace.h"

namespace magi {

class ScopedBlock {
 public:
  ScopedBlock(Allocator& allocator, size_t bytes, Device device, void* stream)
      : allocator_(allocator), bytes_(bytes), device_(device), stream_(stream) {
    if (bytes_ > 0) data_ = allocator_.allocate(bytes_, device_, stream_);
  }
  ~ScopedBlock() {
    if (data_ != nullptr) allocator_.deallocate(data_, bytes_, device_, stream_);
  }
  ScopedBlock(const ScopedBlock&) = delete;
  ScopedBlock& operator=(const ScopedBlock&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  Allocator& allocator_;
  size_t bytes_;
  Device device_;
  void* stream_;
  void* data_ = nullptr;
};

}  // namespace magi
