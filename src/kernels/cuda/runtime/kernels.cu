// The runtime's elementwise CUDA kernels: fill and cast (any floating dtype, any strides).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>

#include "kernels/cuda/runtime/launch.h"

namespace magi::cuda::rt {
namespace {

constexpr int kThreads = 256;

__device__ int64_t offset_of(const Strided& s, int64_t i) {
  int64_t off = 0;
  // NOTE: unrolled with a guard so that every array index is a compile-time constant (a
  // run-time index would put the shape and stride arrays in local memory).
#pragma unroll
  for (int d = 3; d >= 0; --d) {
    if (d < s.ndim) {
      off += (i % s.shape[d]) * s.strides[d];
      i /= s.shape[d];
    }
  }
  return off;
}

__device__ double load(const void* base, int e, int64_t i) {
  switch (e) {
    case kF32: return static_cast<const float*>(base)[i];
    case kF64: return static_cast<const double*>(base)[i];
    case kBF16: return __bfloat162float(static_cast<const __nv_bfloat16*>(base)[i]);
    default: return __half2float(static_cast<const __half*>(base)[i]);
  }
}

__device__ void store(void* base, int e, int64_t i, double x) {
  switch (e) {
    case kF32: static_cast<float*>(base)[i] = static_cast<float>(x); break;
    case kF64: static_cast<double*>(base)[i] = x; break;
    case kBF16: static_cast<__nv_bfloat16*>(base)[i] = __float2bfloat16_rn(static_cast<float>(x)); break;
    default: static_cast<__half*>(base)[i] = __float2half_rn(static_cast<float>(x)); break;
  }
}


__global__ void fill_kernel(void* dst, int e, Strided s, int64_t n, double value) {
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * kThreads) {
    store(dst, e, offset_of(s, i), value);
  }
}

__global__ void cast_kernel(const void* src, int se, Strided ss, void* dst, int de, Strided ds,
                            int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * kThreads) {
    store(dst, de, offset_of(ds, i), load(src, se, offset_of(ss, i)));
  }
}

int flat_grid(int64_t n) { return static_cast<int>(std::min<int64_t>((n + kThreads - 1) / kThreads, 65535)); }
cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }

}  // namespace

void launch_fill(void* dst, int elem, const Strided& s, int64_t n, double value, void* stream) {
  fill_kernel<<<flat_grid(n), kThreads, 0, as_stream(stream)>>>(dst, elem, s, n, value);
}

void launch_cast(const void* src, int src_elem, const Strided& ss, void* dst, int dst_elem,
                 const Strided& ds, int64_t n, void* stream) {
  cast_kernel<<<flat_grid(n), kThreads, 0, as_stream(stream)>>>(src, src_elem, ss, dst, dst_elem,
                                                                ds, n);
}

}  // namespace magi::cuda::rt
