#include "runtime/workspace.h"

#include "kernels/tensor_ops.h"
#include "magi/check.h"

namespace magi::runtime {

TensorView Workspace::empty(DType dtype, std::initializer_list<int64_t> shape) {
  MAGI_CHECK(device_.type == DeviceType::kCPU, "workspace on ", to_string(device_),
             ": the runtime runs on CPU tensors only so far");
  TensorView t = TensorView::contiguous(nullptr, dtype, shape, device_);
  // NOTE: at least one byte, so that empty tensors still have a distinct, valid address.
  const size_t bytes = static_cast<size_t>(t.numel()) * dtype_size(dtype) + 1;
  blocks_.push_back(std::make_unique_for_overwrite<std::byte[]>(bytes));
  t.data = blocks_.back().get();
  return t;
}

TensorView Workspace::empty_rows(const TensorView& like, int64_t rows) {
  TensorView t = empty(like.dtype, {rows});
  t.ndim = like.ndim;
  int64_t stride = 1;
  for (int d = like.ndim - 1; d >= 1; --d) {
    t.shape[d] = like.shape[d];
    t.strides[d] = stride;
    stride *= like.shape[d];
  }
  t.shape[0] = rows;
  t.strides[0] = stride;
  // Re-allocate with the full size (empty() above sized it for `rows` elements only).
  blocks_.pop_back();
  const size_t bytes = static_cast<size_t>(rows * stride) * dtype_size(like.dtype) + 1;
  blocks_.push_back(std::make_unique_for_overwrite<std::byte[]>(bytes));
  t.data = blocks_.back().get();
  return t;
}

TensorView Workspace::zeros(DType dtype, std::initializer_list<int64_t> shape) {
  TensorView t = empty(dtype, shape);
  fill(t, 0.0);
  return t;
}

}  // namespace magi::runtime
