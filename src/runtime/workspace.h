// Workspace: the temporary buffers of one runtime call, freed together when it goes away. On
// CUDA the memory is stream-ordered (allocated and freed on the call's stream), so freeing at
// the end of a call never races the kernels queued before it.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <vector>

#include "magi/tensor.h"

namespace magi::runtime {

class Workspace {
 public:
  explicit Workspace(Device device, void* cuda_stream = nullptr)
      : device_(device), stream_(cuda_stream) {}
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  /// A contiguous, uninitialised tensor on the workspace's device.
  TensorView empty(DType dtype, std::initializer_list<int64_t> shape);
  /// A contiguous, uninitialised tensor with `like`'s dtype and trailing dims and `rows` rows.
  TensorView empty_rows(const TensorView& like, int64_t rows);
  /// The same, zero-filled.
  TensorView zeros(DType dtype, std::initializer_list<int64_t> shape);

 private:
  void* allocate(size_t bytes);

  Device device_;
  void* stream_;
  std::vector<std::unique_ptr<std::byte[]>> host_blocks_;
  std::vector<void*> device_blocks_;
};

}  // namespace magi::runtime
