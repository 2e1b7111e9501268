// Workspace: the temporary buffers of one runtime call, freed together when it goes away.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <vector>

#include "magi/tensor.h"

namespace magi::runtime {

class Workspace {
 public:
  explicit Workspace(Device device) : device_(device) {}
  /// A contiguous, uninitialised tensor on the workspace's device.
  TensorView empty(DType dtype, std::initializer_list<int64_t> shape);
  /// A contiguous, uninitialised tensor with `like`'s dtype and trailing dims and `rows` rows.
  TensorView empty_rows(const TensorView& like, int64_t rows);
  /// The same, zero-filled.
  TensorView zeros(DType dtype, std::initializer_list<int64_t> shape);

 private:
  Device device_;
  std::vector<std::unique_ptr<std::byte[]>> blocks_;
};

}  // namespace magi::runtime
