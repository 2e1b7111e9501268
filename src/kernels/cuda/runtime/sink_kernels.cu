// The attention sink's CUDA kernels (contracts: src/kernels/sink.h; the arithmetic mirrors
// cpu/sink_cpu.cc). Each operation has a fast path for the layouts the FFA kernels produce
// (out / dout [rows, heads, d] with unit element stride, 16-bit or fp32; lse fp32), one warp
// per (row, head), and a generic strided path for the rest (fp64 included).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/runtime/element_access.cuh"
#include "kernels/cuda/runtime/launch.h"

namespace magi::cuda::rt {
namespace {

/// logsumexp of the sinks of (row r, head h): -inf without a finite sink, NaN when a logit is
/// NaN or +inf.
__device__ inline double sink_lse(const SinkLogits& s, int64_t r, int64_t h) {
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

/// The merge of a row's (out, lse = l0) with its sinks (logsumexp ls): the new lse and the
/// weight of out (contracts: sink.h).
__device__ inline void merge_with_sinks(double l0, double ls, double& merged, double& w) {
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
}

__global__ void sink_merge_kernel(void* out, int oe, Strided o, void* lse, int le, Strided l,
                                  SinkLogits sink, int64_t rows_heads, int64_t d) {
  for (int64_t rh = blockIdx.x; rh < rows_heads; rh += gridDim.x) {
    const double ls = sink_lse(sink, rh / sink.heads, rh % sink.heads);
    if (isinf(ls) && ls < 0) continue;  // no sink: the row as it is (uniform across the block)
    double merged, w;
    merge_with_sinks(load(lse, le, offset_of(l, rh)), ls, merged, w);
    for (int64_t e = threadIdx.x; e < d; e += blockDim.x) {
      const int64_t i = offset_of(o, rh * d + e);
      store(out, oe, i, w == 0.0 ? 0.0 : w * load(out, oe, i));
    }
    __syncthreads();  // every thread has read lse before it is overwritten
    if (threadIdx.x == 0) store(lse, le, offset_of(l, rh), merged);
  }
}

// Fast path (out 3-D with unit element stride, lse fp32 2-D): walk_pairs (element_access.cuh),
// lane j merging pair j's lse with its sinks.
__global__ void sink_merge_rows3_kernel(Rows3 out, float* lse, int64_t l_row, int64_t l_head,
                                        SinkLogits sink, int64_t rows_heads, int d) {
  const auto weigh = [&](int64_t pair) {
    const int64_t r = pair / sink.heads, h = pair - r * sink.heads;
    PairWeights w;
    const double ls = sink_lse(sink, r, h);
    if (isinf(ls) && ls < 0) return w;  // no sink: the row as it is
    float* lp = lse + r * l_row + h * l_head;
    double merged, weight;
    merge_with_sinks(*lp, ls, merged, weight);
    *lp = static_cast<float>(merged);
    w.on = true;
    w.a = static_cast<float>(weight), w.zero_a = weight == 0.0;
    return w;
  };
  const auto apply = [&](int64_t r, int64_t h, int c, const PairWeights& w) {
    char* p = at(out, r, h, c);
    float x[4] = {};
    if (!w.zero_a) load4(p, out.elem, x);
#pragma unroll
    for (int k = 0; k < 4; ++k) x[k] *= w.a;
    store4(p, out.elem, x);
  };
  walk_pairs(rows_heads, sink.heads, d, weigh, apply);
}

/// -exp(x - lse) * rowsum(dout * out) for a sink logit x; a -inf logit gives 0.
__device__ inline double sink_term(double x, double lse, double dsum) {
  return (isinf(x) && x < 0) ? 0.0 : -exp(x - lse) * dsum;
}
__device__ inline double sink_term(const SinkLogits& s, int64_t i, int64_t r, int64_t h, double lse,
                                   double dsum) {
  return sink_term(s.logits[r * s.row_stride + i * s.heads + h], lse, dsum);
}

__device__ inline double row_dot(const void* out, int oe, const Strided& o, const void* dout,
                                 int ge, const Strided& g, int64_t rh, int64_t d) {
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

// Fast path of the backward (out, dout Rows3, lse fp32 2-D): one warp per (row, head) computes
// D = rowsum(dout * out) (fp32, a fixed butterfly); ssh adds each sink's term into its own cell,
// sh stores D in `dsum` [rows_heads] for sink_backward_sum_kernel.
__global__ void sink_backward_rows3_kernel(Rows3 out, Rows3 dout, const float* lse, int64_t l_row,
                                           int64_t l_head, SinkLogits sink, float* dsink,
                                           float* dsum, int64_t rows_heads, int d) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t rh = blockIdx.x * int64_t(blockDim.x / 32) + threadIdx.x / 32; rh < rows_heads;
       rh += warps) {
    const int64_t r = rh / sink.heads, h = rh - r * sink.heads;
    float acc = 0.f;
    for (int c = 4 * lane; c < d; c += 128) {
      float o[4], g[4];
      load4(at(out, r, h, c), out.elem, o);
      load4(at(dout, r, h, c), dout.elem, g);
#pragma unroll
      for (int k = 0; k < 4; ++k) acc = fmaf(o[k], g[k], acc);
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
    if (sink.row_stride == 0) {
      if (lane == 0) dsum[rh] = acc;
      continue;
    }
    const double lv = lse[r * l_row + h * l_head];
    for (int64_t i = lane; i < sink.num_sink; i += 32) {
      dsink[r * sink.row_stride + i * sink.heads + h] +=
          static_cast<float>(sink_term(sink, i, r, h, lv, acc));
    }
  }
}

/// Layout sh after sink_backward_rows3_kernel: block b sums the terms of sink b / heads, head
/// b % heads over all rows (thread t takes rows t, t + kThreads, ...; then a fixed tree).
__global__ void sink_backward_sum_kernel(const float* lse, int64_t l_row, int64_t l_head,
                                         SinkLogits sink, const float* dsum, float* dsink,
                                         int64_t rows) {
  __shared__ double part[kThreads];
  for (int64_t b = blockIdx.x; b < sink.num_sink * sink.heads; b += gridDim.x) {
    const int64_t h = b % sink.heads;
    const double x = sink.logits[b];  // [num_sink, heads]: index b
    double acc = 0.0;
    for (int64_t r = threadIdx.x; r < rows; r += kThreads) {
      acc += sink_term(x, lse[r * l_row + h * l_head], dsum[r * sink.heads + h]);
    }
    part[threadIdx.x] = acc;
    __syncthreads();
    for (int half = kThreads / 2; half > 0; half /= 2) {
      if (threadIdx.x < half) part[threadIdx.x] += part[threadIdx.x + half];
      __syncthreads();
    }
    if (threadIdx.x == 0) dsink[b] += static_cast<float>(part[0]);
    __syncthreads();  // part is reused by the next block index
  }
}
/// lse as the fast kernels read it: fp32, 2-D.
bool fast_lse(int e, const Strided& l) { return e == kF32 && l.ndim == 2; }

}  // namespace

void launch_sink_merge(void* out, int o_elem, const Strided& o, void* lse, int l_elem,
                       const Strided& l, const SinkLogits& sink, int64_t rows_heads, int64_t d,
                       void* stream) {
  if (fits_rows3(out, o_elem, o) && fast_lse(l_elem, l)) {
    sink_merge_rows3_kernel<<<flat_grid(rows_heads), kThreads, 0, as_stream(stream)>>>(
        rows3(out, o_elem, o), static_cast<float*>(lse), l.strides[0], l.strides[1], sink,
        rows_heads, static_cast<int>(d));
    return;
  }
  sink_merge_kernel<<<row_grid(rows_heads), 128, 0, as_stream(stream)>>>(
      out, o_elem, o, lse, l_elem, l, sink, rows_heads, d);
}

void launch_sink_backward(const void* out, int o_elem, const Strided& o, const void* lse,
                          int l_elem, const Strided& l, const void* dout, int g_elem,
                          const Strided& g, const SinkLogits& sink, float* dsink, float* scratch,
                          int64_t rows, int64_t d, void* stream) {
  const int64_t n = rows * sink.heads;
  const bool sh = sink.row_stride == 0;
  if (fits_rows3(out, o_elem, o) && fits_rows3(dout, g_elem, g) && fast_lse(l_elem, l) &&
      (!sh || scratch != nullptr)) {
    const float* lf = static_cast<const float*>(lse);
    sink_backward_rows3_kernel<<<warp_grid(n), kThreads, 0, as_stream(stream)>>>(
        rows3(out, o_elem, o), rows3(dout, g_elem, g), lf, l.strides[0], l.strides[1], sink, dsink,
        scratch, n, static_cast<int>(d));
    if (sh) {
      const int blocks = static_cast<int>(std::min<int64_t>(sink.num_sink * sink.heads, 65535));
      sink_backward_sum_kernel<<<blocks, kThreads, 0, as_stream(stream)>>>(
          lf, l.strides[0], l.strides[1], sink, scratch, dsink, rows);
    }
    return;
  }
  if (sh) {
    sink_backward_heads_kernel<<<static_cast<int>(sink.heads), kThreads, 0, as_stream(stream)>>>(
        out, o_elem, o, lse, l_elem, l, dout, g_elem, g, sink, dsink, rows, d);
  } else {
    sink_backward_rows_kernel<<<flat_grid(n), kThreads, 0, as_stream(stream)>>>(
        out, o_elem, o, lse, l_elem, l, dout, g_elem, g, sink, dsink, n, d);
  }
}

}  // namespace magi::cuda::rt
