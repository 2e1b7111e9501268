#include "runtime/arena.h"

#include "magi/check.h"

namespace magi::runtime {

uintptr_t Arena::reserve(size_t bytes) {
  const size_t start = (used_ + kAlign - 1) / kAlign * kAlign;
  MAGI_CHECK(measuring_ || start + bytes <= capacity_, "workspace: ", start + bytes,
             " bytes needed, the block holds ", capacity_);
  used_ = start + bytes;
  return base_ + start;
}

TensorView Arena::take(DType dtype, std::initializer_list<int64_t> shape) {
  TensorView t = TensorView::contiguous(nullptr, dtype, shape, device_);
  t.data = reinterpret_cast<void*>(reserve(static_cast<size_t>(t.numel()) * dtype_size(dtype)));
  return t;
}

void* Arena::take_bytes(size_t bytes) {
  if (bytes == 0) return nullptr;
  return reinterpret_cast<void*>(reserve(bytes));
}

}  // namespace magi::runtime
