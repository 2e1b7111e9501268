// CUDA row-range kernels of the distributed runtime: gather, ordered scatter-add, out/lse
// merge. Memory-bound and simple: one CTA per destination row (or warp per (row, head)).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/range_ops_kernels.h"

namespace magi::cuda {
namespace {

// DType codes (magi/tensor.h): kFloat32 0, kFloat64 1, kBFloat16 2, kFloat16 3.
__device__ __forceinline__ double load_f(const void* p, int dtype, int64_t i) {
  switch (dtype) {
    case 0: return static_cast<const float*>(p)[i];
    case 1: return static_cast<const double*>(p)[i];
    case 2: return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    default: return __half2float(static_cast<const __half*>(p)[i]);
  }
}

__device__ __forceinline__ void store_f(void* p, int dtype, int64_t i, double x) {
  switch (dtype) {
    case 0: static_cast<float*>(p)[i] = static_cast<float>(x); break;
    case 1: static_cast<double*>(p)[i] = x; break;
    case 2: static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16(static_cast<float>(x)); break;
    default: static_cast<__half*>(p)[i] = __float2half(static_cast<float>(x)); break;
  }
}

__global__ void gather_rows_kernel(const unsigned char* src, int64_t src_stride, unsigned char* dst,
                                   int64_t dst_stride, const int64_t* map, int64_t rows,
                                   int64_t row_bytes, bool vec16) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const unsigned char* s = src + map[r] * src_stride;
    unsigned char* d = dst + r * dst_stride;
    if (vec16) {
      for (int64_t i = threadIdx.x; i < row_bytes / 16; i += blockDim.x) {
        reinterpret_cast<uint4*>(d)[i] = reinterpret_cast<const uint4*>(s)[i];
      }
    } else {
      for (int64_t i = threadIdx.x; i < row_bytes; i += blockDim.x) d[i] = s[i];
    }
  }
}

template <class Acc>
__global__ void scatter_add_rows_kernel(const void* src, int src_dtype, int64_t src_stride,
                                        void* dst, int dst_dtype, int64_t dst_stride,
                                        const int64_t* rows, const int64_t* off,
                                        const int64_t* srcs, int64_t n, int64_t row_numel) {
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const int64_t dbase = rows[i] * dst_stride;
    for (int64_t c = threadIdx.x; c < row_numel; c += blockDim.x) {
      Acc acc = static_cast<Acc>(load_f(dst, dst_dtype, dbase + c));
      for (int64_t j = off[i]; j < off[i + 1]; ++j) {
        acc += static_cast<Acc>(load_f(src, src_dtype, srcs[j] * src_stride + c));
      }
      store_f(dst, dst_dtype, dbase + c, static_cast<double>(acc));
    }
  }
}

__global__ void merge_out_lse_kernel(MergeArgs a) {
  const int64_t w = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (w >= a.n * a.h) return;
  const int64_t r = w / a.h, hh = w % a.h;
  const double la = load_f(a.lse_acc, a.lse_acc_dtype, r * a.la_s0 + hh * a.la_s1);
  const double lp = load_f(a.lse_part, a.lse_part_dtype, r * a.lp_s0 + hh * a.lp_s1);
  __syncwarp();
  if (lp == -INFINITY) return;  // the partial holds no key: nothing changes
  double lse, wa, wp;
  if (la == -INFINITY) {
    lse = lp;
    wa = 0.0;
    wp = 1.0;
  } else {
    const double mx = fmax(la, lp), mn = fmin(la, lp);
    lse = mx + log1p(exp(mn - mx));
    wa = exp(la - lse);
    wp = exp(lp - lse);
  }
  const int64_t ob = r * a.oa_s0 + hh * a.oa_s1, pb = r * a.op_s0 + hh * a.op_s1;
  for (int64_t c = lane; c < a.d; c += 32) {
    const double o = wa == 0.0 ? 0.0 : load_f(a.out_acc, a.out_acc_dtype, ob + c);
    store_f(a.out_acc, a.out_acc_dtype, ob + c, wa * o + wp * load_f(a.out_part, a.out_part_dtype, pb + c));
  }
  __syncwarp();  // every lane has read lse_acc before lane 0 overwrites it
  if (lane == 0) store_f(a.lse_acc, a.lse_acc_dtype, r * a.la_s0 + hh * a.la_s1, lse);
}

int grid_for(int64_t n) { return static_cast<int>(n < 65535 * 8 ? n : 65535 * 8); }

}  // namespace

void launch_range_gather(const void* src, int64_t src_row_stride_bytes, void* dst,
                         int64_t dst_row_stride_bytes, const int64_t* map, int64_t rows,
                         int64_t row_bytes, void* stream) {
  if (rows == 0 || row_bytes == 0) return;
  const bool vec16 = reinterpret_cast<uintptr_t>(src) % 16 == 0 &&
                     reinterpret_cast<uintptr_t>(dst) % 16 == 0 && row_bytes % 16 == 0 &&
                     src_row_stride_bytes % 16 == 0 && dst_row_stride_bytes % 16 == 0;
  gather_rows_kernel<<<grid_for(rows), 128, 0, static_cast<cudaStream_t>(stream)>>>(
      static_cast<const unsigned char*>(src), src_row_stride_bytes,
      static_cast<unsigned char*>(dst), dst_row_stride_bytes, map, rows, row_bytes, vec16);
  MAGI_CUDA_CHECK(cudaGetLastError());
}

void launch_range_scatter_add(const void* src, int src_dtype, int64_t src_row_stride, void* dst,
                              int dst_dtype, int64_t dst_row_stride, const int64_t* rows,
                              const int64_t* off, const int64_t* srcs, int64_t n,
                              int64_t row_numel, void* stream) {
  if (n == 0 || row_numel == 0) return;
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (dst_dtype == 1) {
    scatter_add_rows_kernel<double><<<grid_for(n), 128, 0, s>>>(
        src, src_dtype, src_row_stride, dst, dst_dtype, dst_row_stride, rows, off, srcs, n,
        row_numel);
  } else {
    scatter_add_rows_kernel<float><<<grid_for(n), 128, 0, s>>>(
        src, src_dtype, src_row_stride, dst, dst_dtype, dst_row_stride, rows, off, srcs, n,
        row_numel);
  }
  MAGI_CUDA_CHECK(cudaGetLastError());
}

void launch_merge_out_lse(const MergeArgs& a, void* stream) {
  const int64_t warps = a.n * a.h;
  if (warps == 0) return;
  constexpr int kThreads = 256;
  const int64_t blocks = (warps * 32 + kThreads - 1) / kThreads;
  MAGI_CHECK(blocks < (int64_t{1} << 31), "merge_out_lse: too many rows");
  merge_out_lse_kernel<<<static_cast<int>(blocks), kThreads, 0,
                         static_cast<cudaStream_t>(stream)>>>(a);
  MAGI_CUDA_CHECK(cudaGetLastError());
}

}  // namespace magi::cuda
