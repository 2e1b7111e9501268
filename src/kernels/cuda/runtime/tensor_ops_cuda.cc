// Host wrappers of the runtime's CUDA helpers (fill, cast, device memory): TensorViews in,
// launches out. The row-range kernels live in range_ops_cuda.cc.
#include <cuda_runtime_api.h>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/runtime/launch.h"
#include "kernels/cuda/runtime/tensor_ops_cuda.h"

namespace magi::cuda {
namespace {

static_assert(static_cast<int>(DType::kFloat32) == rt::kF32 &&
              static_cast<int>(DType::kFloat64) == rt::kF64 &&
              static_cast<int>(DType::kBFloat16) == rt::kBF16 &&
              static_cast<int>(DType::kFloat16) == rt::kF16);

int elem(const TensorView& t, const char* fn) {
  MAGI_CHECK(is_floating(t.dtype), fn, ": ", t.describe(), ": expected a floating dtype");
  return static_cast<int>(t.dtype);
}

rt::Strided strided(const TensorView& t) {
  rt::Strided s;
  s.ndim = t.ndim;
  for (int d = 0; d < t.ndim; ++d) {
    s.shape[d] = t.shape[d];
    s.strides[d] = t.strides[d];
  }
  return s;
}

}  // namespace

void fill(const TensorView& dst, double value, void* stream) {
  const int e = elem(dst, "fill");
  if (dst.numel() == 0) return;
  rt::launch_fill(dst.data, e, strided(dst), dst.numel(), value, stream);
  MAGI_CUDA_CHECK(cudaGetLastError());
}

void copy_cast(const TensorView& src, const TensorView& dst, void* stream) {
  const int se = elem(src, "copy_cast"), de = elem(dst, "copy_cast");
  if (dst.numel() == 0) return;
  if (se == de && src.is_contiguous() && dst.is_contiguous()) {
    MAGI_CUDA_CHECK(cudaMemcpyAsync(dst.data, src.data, dst.numel() * dtype_size(dst.dtype),
                                    cudaMemcpyDeviceToDevice, static_cast<cudaStream_t>(stream)));
    return;
  }
  rt::launch_cast(src.data, se, strided(src), dst.data, de, strided(dst), dst.numel(), stream);
  MAGI_CUDA_CHECK(cudaGetLastError());
}

void* device_alloc(size_t bytes, void* stream) {
  void* p = nullptr;
  MAGI_CUDA_CHECK(cudaMallocAsync(&p, bytes, static_cast<cudaStream_t>(stream)));
  return p;
}

void device_free(void* p, void* stream) {
  MAGI_CUDA_CHECK(cudaFreeAsync(p, static_cast<cudaStream_t>(stream)));
}

}  // namespace magi::cuda
