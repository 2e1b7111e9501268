// TorchAllocator: the core's Allocator hook (magi/workspace.h) over torch's caching allocator.
// Each block is a uint8 tensor made by a Python callable alloc(nbytes, device_index), so the
// core's scratch memory is torch's (shared with the model, graph-aware under CUDA-graph
// capture). One object serves one call: it keeps its tensors until it is destroyed at the end
// of the call, after every kernel of the call has been queued on torch's current stream, which
// is the order in which torch reuses freed memory.
#pragma once

#include <pybind11/pybind11.h>

#include <vector>

#include "magi/workspace.h"

namespace magi::python {

class TorchAllocator final : public Allocator {
 public:
  explicit TorchAllocator(pybind11::object alloc) : alloc_(std::move(alloc)) {}
  /// Must run with the GIL held (declare it before any gil_scoped_release of the call).
  ~TorchAllocator() override = default;
  void* allocate(size_t bytes, Device device, void* stream) override;
  void deallocate(void*, size_t, Device, void*) noexcept override {}  // at destruction

  /// `alloc` when the call runs on CUDA and the caller gave one, else nullptr (the core's
  /// default: the heap on the CPU).
  Allocator* for_device(Device device) {
    return device.type == DeviceType::kCUDA && !alloc_.is_none() ? this : nullptr;
  }

 private:
  pybind11::object alloc_;
  std::vector<pybind11::object> blocks_;
};

}  // namespace magi::python
