// Element access shared by the runtime's CUDA kernels (kernels.cu, sink_kernels.cu): the
// generic strided path (any dtype, up to 4 dimensions; integer divisions per element) and the
// fast path of rows with unit element stride (four elements per access).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/runtime/launch.h"

namespace magi::cuda::rt {

inline constexpr int kThreads = 256;

inline int flat_grid(int64_t n) {
  return static_cast<int>(std::min<int64_t>((n + kThreads - 1) / kThreads, 65535));
}
inline int row_grid(int64_t rows) { return static_cast<int>(std::min<int64_t>(rows, 65535)); }
/// Blocks of kThreads (8 warps) for one warp per item (the Rows3 kernels: per row and head).
inline int warp_grid(int64_t items) {
  return static_cast<int>(std::min<int64_t>((items + 7) / 8, 65535));
}
inline cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }

// ---- generic: element i of a strided tensor of element type e

__device__ inline int64_t offset_of(const Strided& s, int64_t i) {
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

__device__ inline double load(const void* base, int e, int64_t i) {
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

__device__ inline void store(void* base, int e, int64_t i, double x) {
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

// ---- fast: [rows, heads, d] with unit element stride, 16-bit or fp32

/// A 3-D tensor whose innermost dimension is contiguous; strides in elements.
struct Rows3 {
  char* data;
  int elem;  // kF32, kBF16 or kF16
  int64_t row_stride, head_stride;
};

__host__ __device__ inline int elem_bytes(int e) { return e == kF64 ? 8 : e == kF32 ? 4 : 2; }

/// Whether t (with element type e) can be read as Rows3 four elements at a time: 3-D, unit
/// element stride, not fp64, last dim, strides and base aligned to four elements.
inline bool fits_rows3(const void* data, int e, const Strided& t) {
  if (t.ndim != 3 || t.strides[2] != 1 || e == kF64) return false;
  const uintptr_t align = 4u * static_cast<uintptr_t>(elem_bytes(e));
  return reinterpret_cast<uintptr_t>(data) % align == 0 && t.shape[2] % 4 == 0 &&
         t.strides[0] % 4 == 0 && t.strides[1] % 4 == 0;
}
inline Rows3 rows3(void* data, int e, const Strided& t) {
  return {static_cast<char*>(data), e, t.strides[0], t.strides[1]};
}
inline Rows3 rows3(const void* data, int e, const Strided& t) {
  return rows3(const_cast<void*>(data), e, t);
}

/// Element c of row (r, h).
__device__ inline char* at(const Rows3& t, int64_t r, int64_t h, int64_t c) {
  return t.data + (r * t.row_stride + h * t.head_stride + c) * elem_bytes(t.elem);
}

/// Four consecutive elements at p (aligned to four elements) as floats.
__device__ inline void load4(const char* p, int e, float (&x)[4]) {
  if (e == kF32) {
    const float4 v = *reinterpret_cast<const float4*>(p);
    x[0] = v.x, x[1] = v.y, x[2] = v.z, x[3] = v.w;
  } else if (e == kBF16) {
    const uint2 raw = *reinterpret_cast<const uint2*>(p);
    const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw.x));
    const float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw.y));
    x[0] = a.x, x[1] = a.y, x[2] = b.x, x[3] = b.y;
  } else {
    const uint2 raw = *reinterpret_cast<const uint2*>(p);
    const float2 a = __half22float2(*reinterpret_cast<const __half2*>(&raw.x));
    const float2 b = __half22float2(*reinterpret_cast<const __half2*>(&raw.y));
    x[0] = a.x, x[1] = a.y, x[2] = b.x, x[3] = b.y;
  }
}

__device__ inline void store4(char* p, int e, const float (&x)[4]) {
  if (e == kF32) {
    *reinterpret_cast<float4*>(p) = make_float4(x[0], x[1], x[2], x[3]);
  } else if (e == kBF16) {
    const __nv_bfloat162 a = __floats2bfloat162_rn(x[0], x[1]),
                         b = __floats2bfloat162_rn(x[2], x[3]);
    uint2 raw;
    raw.x = *reinterpret_cast<const uint32_t*>(&a);
    raw.y = *reinterpret_cast<const uint32_t*>(&b);
    *reinterpret_cast<uint2*>(p) = raw;
  } else {
    const __half2 a = __floats2half2_rn(x[0], x[1]), b = __floats2half2_rn(x[2], x[3]);
    uint2 raw;
    raw.x = *reinterpret_cast<const uint32_t*>(&a);
    raw.y = *reinterpret_cast<const uint32_t*>(&b);
    *reinterpret_cast<uint2*>(p) = raw;
  }
}

/// A (row, head) pair's weights in the Rows3 kernels: `on` false leaves the pair as it is.
struct PairWeights {
  bool on = false;
  float a = 0.f, b = 0.f;
  bool zero_a = false;  // a is 0: what it multiplies is not read
};

/// The walk of the Rows3 kernels over rows_heads (row, head) pairs: a warp takes 32 pairs at a
/// time; lane j calls weigh(pair) for pair j (its scalar arithmetic, in double, once per pair:
/// on every lane it cost more than the row's traffic; the only place that pair's lse is read or
/// written), then the warp calls apply(r, h, c, w) for every four-element column step c of
/// the 32 rows that are on, w broadcast from lane j.
template <class Weigh, class Apply>
__device__ inline void walk_pairs(int64_t rows_heads, int64_t heads, int d, Weigh&& weigh,
                                  Apply&& apply) {
  const int lane = threadIdx.x & 31;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t base = blockIdx.x * int64_t(blockDim.x) + (threadIdx.x & ~31); base < rows_heads;
       base += step) {
    const PairWeights mine = base + lane < rows_heads ? weigh(base + lane) : PairWeights{};
    const int flags = (mine.on ? 1 : 0) | (mine.zero_a ? 2 : 0);
    const int count = rows_heads - base < 32 ? static_cast<int>(rows_heads - base) : 32;
    for (int j = 0; j < count; ++j) {
      PairWeights w;
      const int fj = __shfl_sync(0xffffffffu, flags, j);
      w.a = __shfl_sync(0xffffffffu, mine.a, j);
      w.b = __shfl_sync(0xffffffffu, mine.b, j);
      if (!(fj & 1)) continue;  // uniform across the warp
      w.on = true;
      w.zero_a = (fj & 2) != 0;
      const int64_t r = (base + j) / heads, h = base + j - r * heads;
      for (int c = 4 * lane; c < d; c += 128) apply(r, h, c, w);
    }
  }
}

}  // namespace magi::cuda::rt
