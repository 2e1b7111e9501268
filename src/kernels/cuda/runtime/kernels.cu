// The runtime's CUDA kernels: fill, cast, range gather, range scatter-add, out/lse merge.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

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
    case kF32:
      return static_cast<const float*>(base)[i];
    case kF64:
      return static_cast<const double*>(base)[i];
    case kBF16:
      return __bfloat162float(static_cast<const __nv_bfloat16*>(base)[i]);
    default:
      return __half2float(static_cast<const __half*>(base)[i]);
  }
}

__device__ void store(void* base, int e, int64_t i, double x) {
  switch (e) {
    case kF32:
      static_cast<float*>(base)[i] = static_cast<float>(x);
      break;
    case kF64:
      static_cast<double*>(base)[i] = x;
      break;
    case kBF16:
      static_cast<__nv_bfloat16*>(base)[i] = __float2bfloat16_rn(static_cast<float>(x));
      break;
    default:
      static_cast<__half*>(base)[i] = __float2half_rn(static_cast<float>(x));
      break;
  }
}

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
                                   const int64_t* offsets, int64_t n, int64_t rows) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t i = find_range(offsets, n, r);
    T* d = dst + (starts[i] + r - offsets[i]) * dst_stride;
    for (int64_t e = threadIdx.x; e < row_elems; e += blockDim.x) {
      // NOTE: ranges may overlap (a row sent to several ranks comes back from each): atomics.
      atomicAdd(d + e, static_cast<T>(load(src, se, r * src_stride + e)));
    }
  }
}

__global__ void merge_kernel(void* out_acc, int oae, Strided oa, void* lse_acc, int lae, Strided la,
                             const void* out_part, int ope, Strided op, const void* lse_part,
                             int lpe, Strided lp, int64_t rows_heads, int64_t d) {
  for (int64_t rh = blockIdx.x; rh < rows_heads; rh += gridDim.x) {
    const double l1 = load(lse_acc, lae, offset_of(la, rh));
    const double l2 = load(lse_part, lpe, offset_of(lp, rh));
    if (isinf(l2) && l2 < 0) continue;  // uniform across the block: the partial holds no key
    const bool empty1 = isinf(l1) && l1 < 0;
    double lse, w1, w2;
    if (empty1) {
      lse = l2, w1 = 0.0, w2 = 1.0;
    } else if (!isfinite(l1) || !isfinite(l2)) {
      // NOTE: fmax / fmin drop a NaN; a NaN (or +inf) partial makes the row NaN (DESIGN §6).
      lse = w1 = w2 = nan("");
    } else {
      const double mx = fmax(l1, l2), mn = fmin(l1, l2);
      lse = mx + log1p(exp(mn - mx));
      w1 = exp(l1 - lse), w2 = exp(l2 - lse);
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

// ---- attention sink (contracts: src/kernels/sink.h; the arithmetic mirrors cpu/sink_merge.h)

/// logsumexp of the sinks of (row r, head h): -inf without a finite sink, NaN when a logit is
/// NaN or +inf.
__device__ double sink_lse(const SinkLogits& s, int64_t r, int64_t h) {
  const float* x = s.logits + r * s.row_stride + h;
  double mx = -INFINITY;
  for (int64_t i = 0; i < s.num_sink; ++i) {
    const double v = x[i * s.heads];
    if (!(v < INFINITY)) return nan("");  // NaN or +inf
    mx = fmax(mx, v);
  }
  if (isinf(mx)) return mx;
  double sum = 0.0;
  for (int64_t i = 0; i < s.num_sink; ++i) sum += exp(double(x[i * s.heads]) - mx);
  return mx + log(sum);
}

__global__ void sink_merge_kernel(void* out, int oe, Strided o, void* lse, int le, Strided l,
                                  SinkLogits sink, int64_t rows_heads, int64_t d) {
  for (int64_t rh = blockIdx.x; rh < rows_heads; rh += gridDim.x) {
    const double ls = sink_lse(sink, rh / sink.heads, rh % sink.heads);
    if (isinf(ls) && ls < 0) continue;  // no sink: the row as it is (uniform across the block)
    const double l0 = load(lse, le, offset_of(l, rh));
    double merged, w;
    if (isnan(ls)) {
      merged = w = nan("");
    } else if (isinf(l0) && l0 < 0) {
      merged = ls, w = 0.0;  // no key: only the sinks, out = 0 whatever it held
    } else if (!isfinite(l0)) {
      merged = w = nan("");
    } else {
      const double mx = fmax(l0, ls), mn = fmin(l0, ls);
      merged = mx + log1p(exp(mn - mx));
      w = exp(l0 - merged);
    }
    for (int64_t e = threadIdx.x; e < d; e += blockDim.x) {
      const int64_t i = offset_of(o, rh * d + e);
      store(out, oe, i, w == 0.0 ? 0.0 : w * load(out, oe, i));
    }
    __syncthreads();  // every thread has read l0 before it is overwritten
    if (threadIdx.x == 0) store(lse, le, offset_of(l, rh), merged);
  }
}

/// -exp(logit - lse) * rowsum(dout * out) of sink i at (row r, head h); a -inf logit gives 0.
__device__ double sink_term(const SinkLogits& s, int64_t i, int64_t r, int64_t h, double lse,
                            double dsum) {
  const double x = s.logits[r * s.row_stride + i * s.heads + h];
  return (isinf(x) && x < 0) ? 0.0 : -exp(x - lse) * dsum;
}

__device__ double row_dot(const void* out, int oe, const Strided& o, const void* dout, int ge,
                          const Strided& g, int64_t rh, int64_t d) {
  double acc = 0.0;
  for (int64_t e = 0; e < d; ++e) {
    acc += load(out, oe, offset_of(o, rh * d + e)) * load(dout, ge, offset_of(g, rh * d + e));
  }
  return acc;
}

/// Layout ssh: one thread per (row, head), each sink's term added into its own cell.
__global__ void sink_backward_rows_kernel(const void* out, int oe, Strided o, const void* lse,
                                          int le, Strided l, const void* dout, int ge, Strided g,
                                          SinkLogits sink, float* dsink, int64_t rows_heads,
                                          int64_t d) {
  for (int64_t rh = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; rh < rows_heads;
       rh += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = rh / sink.heads, h = rh % sink.heads;
    const double dsum = row_dot(out, oe, o, dout, ge, g, rh, d);
    const double lv = load(lse, le, offset_of(l, rh));
    for (int64_t i = 0; i < sink.num_sink; ++i) {
      dsink[r * sink.row_stride + i * sink.heads + h] +=
          static_cast<float>(sink_term(sink, i, r, h, lv, dsum));
    }
  }
}

/// Layout sh: block h sums head h's terms over all rows: thread t takes rows t, t + kThreads,
/// ..., then a fixed tree adds the threads' sums, so the bits do not depend on the schedule.
/// Sinks in chunks of kChunk (rows re-read per chunk; num_sink is small in practice).
__global__ void sink_backward_heads_kernel(const void* out, int oe, Strided o, const void* lse,
                                           int le, Strided l, const void* dout, int ge, Strided g,
                                           SinkLogits sink, float* dsink, int64_t rows, int64_t d) {
  constexpr int kChunk = 4;
  __shared__ double part[kChunk][kThreads];
  const int64_t h = blockIdx.x;
  for (int64_t i0 = 0; i0 < sink.num_sink; i0 += kChunk) {
    double acc[kChunk] = {};
    for (int64_t r = threadIdx.x; r < rows; r += kThreads) {
      const int64_t rh = r * sink.heads + h;
      const double dsum = row_dot(out, oe, o, dout, ge, g, rh, d);
      const double lv = load(lse, le, offset_of(l, rh));
#pragma unroll
      for (int c = 0; c < kChunk; ++c) {
        if (i0 + c < sink.num_sink) acc[c] += sink_term(sink, i0 + c, r, h, lv, dsum);
      }
    }
#pragma unroll
    for (int c = 0; c < kChunk; ++c) part[c][threadIdx.x] = acc[c];
    __syncthreads();
    for (int half = kThreads / 2; half > 0; half /= 2) {
      if (threadIdx.x < half) {
#pragma unroll
        for (int c = 0; c < kChunk; ++c) part[c][threadIdx.x] += part[c][threadIdx.x + half];
      }
      __syncthreads();
    }
    if (threadIdx.x < kChunk && i0 + threadIdx.x < sink.num_sink) {
      dsink[(i0 + threadIdx.x) * sink.heads + h] += static_cast<float>(part[threadIdx.x][0]);
    }
    __syncthreads();  // part is reused by the next chunk
  }
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

int flat_grid(int64_t n) {
  return static_cast<int>(std::min<int64_t>((n + kThreads - 1) / kThreads, 65535));
}
int row_grid(int64_t rows) { return static_cast<int>(std::min<int64_t>(rows, 65535)); }
cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }

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
                        const int64_t* offsets, int64_t n, int64_t rows, void* stream) {
  if (dst_elem == kF64) {
    scatter_add_kernel<double><<<row_grid(rows), kThreads, 0, as_stream(stream)>>>(
        src, src_elem, src_stride, static_cast<double*>(dst), dst_stride, row_elems, starts,
        offsets, n, rows);
  } else {
    scatter_add_kernel<float><<<row_grid(rows), kThreads, 0, as_stream(stream)>>>(
        src, src_elem, src_stride, static_cast<float*>(dst), dst_stride, row_elems, starts, offsets,
        n, rows);
  }
}

void launch_merge(void* out_acc, int oa_elem, const Strided& oa, void* lse_acc, int la_elem,
                  const Strided& la, const void* out_part, int op_elem, const Strided& op,
                  const void* lse_part, int lp_elem, const Strided& lp, int64_t rows_heads,
                  int64_t d, void* stream) {
  merge_kernel<<<row_grid(rows_heads), 128, 0, as_stream(stream)>>>(
      out_acc, oa_elem, oa, lse_acc, la_elem, la, out_part, op_elem, op, lse_part, lp_elem, lp,
      rows_heads, d);
}

void launch_sink_merge(void* out, int o_elem, const Strided& o, void* lse, int l_elem,
                       const Strided& l, const SinkLogits& sink, int64_t rows_heads, int64_t d,
                       void* stream) {
  sink_merge_kernel<<<row_grid(rows_heads), 128, 0, as_stream(stream)>>>(
      out, o_elem, o, lse, l_elem, l, sink, rows_heads, d);
}

void launch_sink_backward(const void* out, int o_elem, const Strided& o, const void* lse,
                          int l_elem, const Strided& l, const void* dout, int g_elem,
                          const Strided& g, const SinkLogits& sink, float* dsink, int64_t rows,
                          int64_t d, void* stream) {
  if (sink.row_stride == 0) {
    sink_backward_heads_kernel<<<static_cast<int>(sink.heads), kThreads, 0, as_stream(stream)>>>(
        out, o_elem, o, lse, l_elem, l, dout, g_elem, g, sink, dsink, rows, d);
  } else {
    const int64_t n = rows * sink.heads;
    sink_backward_rows_kernel<<<flat_grid(n), kThreads, 0, as_stream(stream)>>>(
        out, o_elem, o, lse, l_elem, l, dout, g_elem, g, sink, dsink, n, d);
  }
}

void launch_sum_rows(const float* src, float* dst, int64_t n, int64_t m, double scale,
                     void* stream) {
  sum_rows_kernel<<<flat_grid(m), kThreads, 0, as_stream(stream)>>>(src, dst, n, m, scale);
}

void launch_max_rows(const float* src, float* dst, int64_t n, int64_t m, void* stream) {
  max_rows_kernel<<<flat_grid(m), kThreads, 0, as_stream(stream)>>>(src, dst, n, m);
}

}  // namespace magi::cuda::rt
