#include "runtime/workspace.h"

#include "kernels/tensor_ops.h"
#include "magi/check.h"

#ifdef MAGI_WITH_CUDA
#include "kernels/cuda/runtime/tensor_ops_cuda.h"
#endif

namespace magi::runtime {

Workspace::~Workspace() {
#ifdef MAGI_WITH_CUDA
  for (void* p : device_blocks_) {
    try {
      cuda::device_free(p, stream_);
    } catch (...) {  // NOTE: a destructor must not throw; the error resurfaces on the stream
    }
  }
#endif
}

void* Workspace::allocate(size_t bytes) {
  // NOTE: at least one byte, so that empty tensors still have a distinct, valid address.
  bytes += 1;
  if (device_.type == DeviceType::kCPU) {
    host_blocks_.push_back(std::make_unique_for_overwrite<std::byte[]>(bytes));
    return host_blocks_.back().get();
  }
#ifdef MAGI_WITH_CUDA
  device_blocks_.push_back(cuda::device_alloc(bytes, stream_));
  return device_blocks_.back();
#else
  MAGI_FAIL("workspace on ", to_string(device_), ": this build has no CUDA support");
#endif
}

TensorView Workspace::empty(DType dtype, std::initializer_list<int64_t> shape) {
  TensorView t = TensorView::contiguous(nullptr, dtype, shape, device_);
  t.data = allocate(static_cast<size_t>(t.numel()) * dtype_size(dtype));
  return t;
}

TensorView Workspace::empty_rows(const TensorView& like, int64_t rows) {
  TensorView t = like;
  t.device = device_;
  int64_t stride = 1;
  for (int d = like.ndim - 1; d >= 1; --d) {
    t.strides[d] = stride;
    stride *= like.shape[d];
  }
  t.shape[0] = rows;
  t.strides[0] = stride;
  t.data = allocate(static_cast<size_t>(rows * stride) * dtype_size(like.dtype));
  return t;
}

TensorView Workspace::zeros(DType dtype, std::initializer_list<int64_t> shape) {
  TensorView t = empty(dtype, shape);
  fill(t, 0.0, stream_);
  return t;
}

}  // namespace magi::runtime
