// Backward preprocess: the row statistics every backward kernel reads, per (query row, head):
// D = rowsum(dO * O), and for the warp-specialised Hopper backward also lse * log2(e), both
// head-major [Hq, stat_stride] (BwdPreParams::lse2 set), and the counters of its dQ cast
// (BwdPreParams::dq_left); else D alone, row-major [Sq, Hq].
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/ffa/config.h"
#include "kernels/cuda/ffa/params.h"
#include "kernels/cuda/ffa/traits.cuh"
#include "kernels/cuda/ptx/grid_dependency.cuh"

namespace magi::cuda {

/// The (row, head) of statistic number w and where it is stored. Numbered in storage order
/// (head-major with lse2, else row-major), so that neighbouring threads store neighbouring
/// floats.
struct PreRow {
  int64_t row;
  int head;
  int64_t at;
};

__device__ __forceinline__ PreRow pre_row(const BwdPreParams& p, int64_t w) {
  if (p.lse2 != nullptr) {
    const int head = static_cast<int>(w / p.total_q);
    const int64_t row = w - static_cast<int64_t>(head) * p.total_q;
    return {row, head, head * p.stat_stride + row};
  }
  const int64_t row = w / p.num_heads_q;
  return {row, static_cast<int>(w - row * p.num_heads_q), w};
}

__device__ __forceinline__ void pre_store(const BwdPreParams& p, const PreRow& r, float dsum) {
  p.dsum[r.at] = dsum;
  if (p.lse2 == nullptr) return;
  // The dQ cast's counters (sm90/dq_cast.h), one per block of BwdTileConfig::kBlockM rows and
  // head, set by the block's first row: the backward kernel reads them after this grid ends.
  constexpr int kBlockM = BwdTileConfig::kBlockM;
  if (p.dq_left != nullptr && r.row % kBlockM == 0) {
    const int64_t b = r.row / kBlockM;
    p.dq_left[b * p.num_heads_q + r.head] = p.dq_adds[b];
    p.cast_queue[b * p.num_heads_q + r.head] = 0;
    if (r.row == 0 && r.head == 0) p.cast_ends[0] = p.cast_ends[1] = 0;
  }
  // NOTE: -inf (a row without cells) -> +inf, so 2^(s - lse2) = 0; NaN stays NaN.
  const float lse = p.lse[r.row * p.lse_row_stride + r.head * p.lse_head_stride];
  p.lse2[r.at] = lse == -INFINITY ? INFINITY : lse * kLog2e;
}

/// Any head dim: one warp per (row, head), one element per lane and step.
template <class OutT, class DoT>
__global__ void ffa_bwd_preprocess_kernel(const __grid_constant__ BwdPreParams p) {
  ptx::griddep_launch_dependents();  // the Hopper backward's CTAs may start as these drain
  const int64_t w = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (w >= static_cast<int64_t>(p.total_q) * p.num_heads_q) return;
  const PreRow r = pre_row(p, w);
  const OutT* o =
      static_cast<const OutT*>(p.out) + r.row * p.o_row_stride + r.head * p.o_head_stride;
  const DoT* d =
      static_cast<const DoT*>(p.dout) + r.row * p.do_row_stride + r.head * p.do_head_stride;
  float acc = 0.f;
  for (int i = lane; i < p.head_dim; i += 32) {
    acc += static_cast<float>(o[i]) * static_cast<float>(d[i]);
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
  if (lane == 0) pre_store(p, r, acc);
}

/// Eight consecutive 16-bit elements (16-byte aligned) as floats.
template <class T>
__device__ __forceinline__ void load8(const T* src, float (&x)[8]) {
  using T2 = std::conditional_t<std::is_same_v<T, __half>, __half2, __nv_bfloat162>;
  const uint4 u = __ldg(reinterpret_cast<const uint4*>(src));
  const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = to_float2(*reinterpret_cast<const T2*>(&w[i]));
    x[2 * i] = f.x;
    x[2 * i + 1] = f.y;
  }
}
/// ... and eight fp32 elements (the overload wins over the template for float).
__device__ __forceinline__ void load8(const float* src, float (&x)[8]) {
  const float4 a = __ldg(reinterpret_cast<const float4*>(src));
  const float4 b = __ldg(reinterpret_cast<const float4*>(src) + 1);
  x[0] = a.x, x[1] = a.y, x[2] = a.z, x[3] = a.w, x[4] = b.x, x[5] = b.y, x[6] = b.z, x[7] = b.w;
}

/// Head dim 8 kLanes kVecs: kLanes threads per (row, head), each reading kVecs runs of eight
/// elements with 16-byte loads (the warp-per-row kernel's 2-byte loads took 9.5 us at 2k x 16
/// heads x hd 64 on the H200, 1.8x cuDNN's preprocess; bench/NOTES.md v33). Every lane of a
/// full block reaches the shuffles.
template <class OutT, class DoT, int kLanes, int kVecs>
__global__ void ffa_bwd_preprocess_vec_kernel(const __grid_constant__ BwdPreParams p) {
  static_assert(kLanes >= 1 && kLanes <= 32 && (kLanes & (kLanes - 1)) == 0);
  ptx::griddep_launch_dependents();
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t w = t / kLanes;
  const int sub = static_cast<int>(t % kLanes);
  const bool valid = w < static_cast<int64_t>(p.total_q) * p.num_heads_q;
  PreRow r{};
  float acc = 0.f;
  if (valid) {
    r = pre_row(p, w);
    const OutT* o =
        static_cast<const OutT*>(p.out) + r.row * p.o_row_stride + r.head * p.o_head_stride;
    const DoT* d =
        static_cast<const DoT*>(p.dout) + r.row * p.do_row_stride + r.head * p.do_head_stride;
#pragma unroll
    for (int v = 0; v < kVecs; ++v) {
      const int c = 8 * (sub + kLanes * v);
      float x[8], y[8];
      load8(o + c, x);
      load8(d + c, y);
#pragma unroll
      for (int i = 0; i < 8; ++i) acc = fmaf(x[i], y[i], acc);
    }
  }
#pragma unroll
  for (int off = kLanes / 2; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
  if (valid && sub == 0) pre_store(p, r, acc);
}

}  // namespace magi::cuda
