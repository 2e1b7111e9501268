// The runtime's CUDA kernels: fill, cast, range gather, range scatter-add, out/lse merge,
// max_logits' and dsink's reductions over ranks (the sink's own kernels: sink_kernels.cu).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/runtime/element_access.cuh"
#include "kernels/cuda/runtime/launch.h"

namespace magi::cuda::rt {
namespace {

// Index of the range holding packed row r: the last i with offsets[i] <= r.
__device__ int64_t find_range(const int64_t* offsets, int64_t n, int64_t r) {
  int64_t lo = 0, hi = n - 1;
  while (lo < hi) {
    const int64_t mid = (lo + hi + 1) / 2;
    if (offsets[mid] <= r)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
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

// Contiguous fp32 -> 16-bit, four elements per thread and step (the gradient casts of the FFA
// backward; the strided kernel above costs integer divisions per element).
template <typename T2>
__global__ void cast_f32_contig_kernel(const float* src, T2* dst, int64_t n4) {
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < n4;
       i += int64_t{gridDim.x} * kThreads) {
    const float4 x = reinterpret_cast<const float4*>(src)[i];
    if constexpr (std::is_same_v<T2, __nv_bfloat162>) {
      dst[2 * i] = __floats2bfloat162_rn(x.x, x.y);
      dst[2 * i + 1] = __floats2bfloat162_rn(x.z, x.w);
    } else {
      dst[2 * i] = __floats2half2_rn(x.x, x.y);
      dst[2 * i + 1] = __floats2half2_rn(x.z, x.w);
    }
  }
}

__global__ void gather_kernel(const char* src, int64_t src_stride, char* dst, int64_t dst_stride,
                              int64_t row_bytes, const int64_t* starts, const int64_t* offsets,
                              int64_t n, int64_t rows) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t i = find_range(offsets, n, r);
    const char* s = src + (starts[i] + r - offsets[i]) * src_stride;
    char* d = dst + r * dst_stride;
    const bool vec = ((reinterpret_cast<uintptr_t>(s) | reinterpret_cast<uintptr_t>(d) |
                       static_cast<uintptr_t>(row_bytes)) &
                      15) == 0;
    if (vec) {
      for (int64_t b = threadIdx.x; b < row_bytes / 16; b += blockDim.x) {
        reinterpret_cast<int4*>(d)[b] = reinterpret_cast<const int4*>(s)[b];
      }
    } else {
      for (int64_t b = threadIdx.x; b < row_bytes; b += blockDim.x) d[b] = s[b];
    }
  }
}

template <typename T>
__global__ void scatter_add_kernel(const void* src, int se, int64_t src_stride, T* dst,
                                   int64_t dst_stride, int64_t row_elems, const int64_t* starts,
                                   const int64_t* offsets, int64_t n, int64_t rows,
                                   const int64_t* layer_of, int64_t layer) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t i = find_range(offsets, n, r);
    if (layer_of != nullptr && layer_of[i] != layer) continue;  // uniform across the block
    T* d = dst + (starts[i] + r - offsets[i]) * dst_stride;
    for (int64_t e = threadIdx.x; e < row_elems; e += blockDim.x) {
      // NOTE: ranges may overlap (a row sent to several ranks comes back from each): atomics
      // (within one layer, range_layers.h, they touch distinct elements).
      atomicAdd(d + e, static_cast<T>(load(src, se, r * src_stride + e)));
    }
  }
}

/// Weights of the merge of (out_acc, l1) with (out_part, l2): the merged lse and the two
/// weights; `skip` when the partial holds no key (l2 = -inf: the accumulator stays as it is).
__device__ inline bool merge_weights(double l1, double l2, double& lse, double& w1, double& w2) {
  if (isinf(l2) && l2 < 0) return false;
  if (isinf(l1) && l1 < 0) {
    lse = l2, w1 = 0.0, w2 = 1.0;
  } else if (!isfinite(l1) || !isfinite(l2)) {
    // NOTE: fmax / fmin drop a NaN; a NaN (or +inf) partial makes the row NaN (DESIGN §6).
    lse = w1 = w2 = nan("");
  } else {
    const double mx = fmax(l1, l2), mn = fmin(l1, l2);
    lse = mx + log1p(exp(mn - mx));
    w1 = exp(l1 - lse), w2 = exp(l2 - lse);
  }
  return true;
}

__global__ void merge_kernel(void* out_acc, int oae, Strided oa, void* lse_acc, int lae, Strided la,
                             const void* out_part, int ope, Strided op, const void* lse_part,
                             int lpe, Strided lp, int64_t rows_heads, int64_t d) {
  for (int64_t rh = blockIdx.x; rh < rows_heads; rh += gridDim.x) {
    double lse, w1, w2;
    if (!merge_weights(load(lse_acc, lae, offset_of(la, rh)),
                       load(lse_part, lpe, offset_of(lp, rh)), lse, w1, w2)) {
      continue;  // uniform across the block
    }
    for (int64_t e = threadIdx.x; e < d; e += blockDim.x) {
      const int64_t i = rh * d + e;
      // NOTE: w1 = 0 (no key so far) never reads out_acc, which may hold anything then.
      const double prev = w1 == 0.0 ? 0.0 : load(out_acc, oae, offset_of(oa, i));
      const double o = w1 * prev + w2 * load(out_part, ope, offset_of(op, i));
      store(out_acc, oae, offset_of(oa, i), o);
    }
    __syncthreads();  // every thread has read l1 before it is overwritten
    if (threadIdx.x == 0) store(lse_acc, lae, offset_of(la, rh), lse);
  }
}

// Fast path of the merge (outs Rows3, lses fp32 2-D; the runtime's stage merges): walk_pairs
// with the weights above.
__global__ void merge_rows3_kernel(Rows3 out_acc, float* lse_acc, int64_t la_row, int64_t la_head,
                                   Rows3 out_part, const float* lse_part, int64_t lp_row,
                                   int64_t lp_head, int64_t heads, int64_t rows_heads, int d) {
  const auto weigh = [&](int64_t pair) {
    const int64_t r = pair / heads, h = pair - r * heads;
    float* l1 = lse_acc + r * la_row + h * la_head;
    double lse, w1, w2;
    PairWeights w;
    if (!merge_weights(*l1, lse_part[r * lp_row + h * lp_head], lse, w1, w2)) return w;
    *l1 = static_cast<float>(lse);
    w.on = true;
    w.a = static_cast<float>(w1), w.b = static_cast<float>(w2), w.zero_a = w1 == 0.0;
    return w;
  };
  const auto apply = [&](int64_t r, int64_t h, int c, const PairWeights& w) {
    char* pa = at(out_acc, r, h, c);
    float a[4] = {}, b[4];
    if (!w.zero_a) load4(pa, out_acc.elem, a);
    load4(at(out_part, r, h, c), out_part.elem, b);
#pragma unroll
    for (int k = 0; k < 4; ++k) a[k] = w.zero_a ? w.b * b[k] : fmaf(w.a, a[k], w.b * b[k]);
    store4(pa, out_acc.elem, a);
  };
  walk_pairs(rows_heads, heads, d, weigh, apply);
}

__global__ void sum_rows_kernel(const float* src, float* dst, int64_t n, int64_t m, double scale) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < m;
       i += int64_t(gridDim.x) * blockDim.x) {
    double acc = 0.0;
    for (int64_t r = 0; r < n; ++r) acc += src[r * m + i];
    dst[i] = static_cast<float>(scale * acc);
  }
}

__global__ void max_rows_kernel(const float* src, float* dst, int64_t n, int64_t m) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < m;
       i += int64_t(gridDim.x) * blockDim.x) {
    float acc = -INFINITY;
    for (int64_t r = 0; r < n; ++r) {
      const float x = src[r * m + i];
      acc = (acc != acc || x != x) ? nanf("") : fmaxf(acc, x);
    }
    dst[i] = acc;
  }
}

}  // namespace

void launch_fill(void* dst, int elem, const Strided& s, int64_t n, double value, void* stream) {
  fill_kernel<<<flat_grid(n), kThreads, 0, as_stream(stream)>>>(dst, elem, s, n, value);
}

bool launch_cast_f32_contig(const void* src, void* dst, int dst_elem, int64_t n, void* stream) {
  if (n % 4 != 0 || (reinterpret_cast<uintptr_t>(src) & 15) != 0 ||
      (reinterpret_cast<uintptr_t>(dst) & 7) != 0 || (dst_elem != kBF16 && dst_elem != kF16)) {
    return false;
  }
  const int64_t n4 = n / 4;
  const float* s = static_cast<const float*>(src);
  if (dst_elem == kBF16) {
    cast_f32_contig_kernel<<<flat_grid(n4), kThreads, 0, as_stream(stream)>>>(
        s, static_cast<__nv_bfloat162*>(dst), n4);
  } else {
    cast_f32_contig_kernel<<<flat_grid(n4), kThreads, 0, as_stream(stream)>>>(
        s, static_cast<__half2*>(dst), n4);
  }
  return true;
}

void launch_cast(const void* src, int src_elem, const Strided& ss, void* dst, int dst_elem,
                 const Strided& ds, int64_t n, void* stream) {
  cast_kernel<<<flat_grid(n), kThreads, 0, as_stream(stream)>>>(src, src_elem, ss, dst, dst_elem,
                                                                ds, n);
}

void launch_gather(const void* src, int64_t src_stride, void* dst, int64_t dst_stride,
                   int64_t row_bytes, const int64_t* starts, const int64_t* offsets, int64_t n,
                   int64_t rows, void* stream) {
  gather_kernel<<<row_grid(rows), kThreads, 0, as_stream(stream)>>>(
      static_cast<const char*>(src), src_stride, static_cast<char*>(dst), dst_stride, row_bytes,
      starts, offsets, n, rows);
}

void launch_scatter_add(const void* src, int src_elem, int64_t src_stride, void* dst, int dst_elem,
                        int64_t dst_stride, int64_t row_elems, const int64_t* starts,
                        const int64_t* offsets, int64_t n, int64_t rows, const int64_t* layer_of,
                        int64_t layer, void* stream) {
  if (dst_elem == kF64) {
    scatter_add_kernel<double><<<row_grid(rows), kThreads, 0, as_stream(stream)>>>(
        src, src_elem, src_stride, static_cast<double*>(dst), dst_stride, row_elems, starts,
        offsets, n, rows, layer_of, layer);
  } else {
    scatter_add_kernel<float><<<row_grid(rows), kThreads, 0, as_stream(stream)>>>(
        src, src_elem, src_stride, static_cast<float*>(dst), dst_stride, row_elems, starts, offsets,
        n, rows, layer_of, layer);
  }
}

void launch_merge(void* out_acc, int oa_elem, const Strided& oa, void* lse_acc, int la_elem,
                  const Strided& la, const void* out_part, int op_elem, const Strided& op,
                  const void* lse_part, int lp_elem, const Strided& lp, int64_t rows_heads,
                  int64_t d, void* stream) {
  if (fits_rows3(out_acc, oa_elem, oa) && fits_rows3(out_part, op_elem, op) && la_elem == kF32 &&
      la.ndim == 2 && lp_elem == kF32 && lp.ndim == 2) {
    merge_rows3_kernel<<<flat_grid(rows_heads), kThreads, 0, as_stream(stream)>>>(
        rows3(out_acc, oa_elem, oa), static_cast<float*>(lse_acc), la.strides[0], la.strides[1],
        rows3(out_part, op_elem, op), static_cast<const float*>(lse_part), lp.strides[0],
        lp.strides[1], la.shape[1], rows_heads, static_cast<int>(d));
    return;
  }
  merge_kernel<<<row_grid(rows_heads), 128, 0, as_stream(stream)>>>(
      out_acc, oa_elem, oa, lse_acc, la_elem, la, out_part, op_elem, op, lse_part, lp_elem, lp,
      rows_heads, d);
}

void launch_sum_rows(const float* src, float* dst, int64_t n, int64_t m, double scale,
                     void* stream) {
  sum_rows_kernel<<<flat_grid(m), kThreads, 0, as_stream(stream)>>>(src, dst, n, m, scale);
}

void launch_max_rows(const float* src, float* dst, int64_t n, int64_t m, void* stream) {
  max_rows_kernel<<<flat_grid(m), kThreads, 0, as_stream(stream)>>>(src, dst, n, m);
}

}  // namespace magi::cuda::rt
