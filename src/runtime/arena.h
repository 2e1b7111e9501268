// Arena: a call's temporaries carved out of one block, in a fixed order. The same code lays a
// call out twice: first without memory (measure mode: views get offsets, nothing may be read or
// written through them) to learn the bytes, then over the one block the call's Allocator gave,
// so a call makes one allocation whatever its number of buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>

#include "magi/tensor.h"

namespace magi::runtime {

class Arena {
 public:
  static constexpr size_t kAlign = 256;  // every piece starts on this boundary

  /// Measure mode.
  explicit Arena(Device device) : device_(device) {}
  /// Over `capacity` bytes at `base` (kAlign-aligned); taking more throws.
  Arena(Device device, void* base, size_t capacity)
      : device_(device),
        base_(reinterpret_cast<uintptr_t>(base)),
        capacity_(capacity),
        measuring_(false) {}

  /// A contiguous tensor of `shape`.
  TensorView take(DType dtype, std::initializer_list<int64_t> shape);
  /// `bytes` bytes (nullptr when 0).
  void* take_bytes(size_t bytes);
  /// Bytes taken so far, including alignment.
  size_t used() const { return used_; }

 private:
  uintptr_t reserve(size_t bytes);

  Device device_;
  uintptr_t base_ = 0;
  size_t capacity_ = 0;
  size_t used_ = 0;
  bool measuring_ = true;
};

}  // namespace magi::runtime
