// Forward epilogue: normalise O, write out and lse, or merge them into fp32 accumulators.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>

#include "kernels/cuda/ffa/params.h"
#include "kernels/cuda/ffa/softmax.cuh"
#include "kernels/cuda/ffa/traits.cuh"
#include "kernels/cuda/ptx/red.cuh"

namespace magi::cuda {

/// max(a, b), NaN when either is (fmaxf would drop the NaN).
__device__ __forceinline__ float max_keep_nan(float a, float b) {
  return (a != a || b != b) ? __int_as_float(0x7fffffff) : fmaxf(a, b);
}

/// FwdParams::max_logits: the warp's largest score (natural units) over its rows of the item,
/// merged into max_logits[head]. A tracked softmax (TrackMax::kOn) gives each thread's row_top
/// (its own cells; the warp's max covers the quad) at any slack; else rescale_slack = 0 and
/// row_max is the maximum of the row's scores (score units; `scale` maps them to log2 units).
/// Either is exact up to a float rounding or two (OnlineSoftmax::update_scores). A NaN row sum
/// means a NaN or +inf score among the row's cells: the head's maximum becomes NaN (DESIGN.md
/// §6). Called after sm.finalize(), or (tracked) on a cut tile's piece's thread-partial sums: a
/// thread without cells there has a zero sum and reports nothing.
template <int kMT, TrackMax kTrack>
__device__ __forceinline__ void merge_max_logits(const FwdParams& p, int head, int row_base,
                                                 int row_end, const OnlineSoftmax<kMT, kTrack>& sm,
                                                 float scale, int lane) {
  const int g = lane >> 2;
  float m = -INFINITY;
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
    for (int hi = 0; hi < 2; ++hi) {
      if (row_base + 16 * mt + g + 8 * hi >= row_end) continue;
      const float l = sm.row_sum[mt][hi];
      const float v = l != l ? l : (l == 0.f ? -INFINITY : sm.top(mt, hi, scale) * kLn2);
      m = max_keep_nan(m, v);
    }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) m = max_keep_nan(m, __shfl_xor_sync(0xffffffffu, m, off));
  if (lane == 0 && m != -INFINITY) ptx::atomic_max_f32_keep_nan(p.max_logits + head, m);
}

/// Rows >= row_end (the end of the work item's block) belong to another item: not written.
template <int kMT, int kNO, TrackMax kTrack>
__device__ __forceinline__ void fwd_epilogue(const FwdParams& p, int head, int row_base,
                                             int row_end, float (&o)[kMT][kNO][4],
                                             OnlineSoftmax<kMT, kTrack>& sm, float scale,
                                             int lane) {
  const int g = lane >> 2, t = lane & 3;
  sm.finalize();
  float lse_tile[kMT][2], inv[kMT][2];
  bool skip[kMT][2];
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
    for (int hi = 0; hi < 2; ++hi) {
      const int row = row_base + 16 * mt + g + 8 * hi;
      const float l = sm.row_sum[mt][hi];
      // NOTE: empty means no weight at all (no cell, or every score -inf): l == 0 exactly,
      // since the reference max contributes 2^0 = 1 otherwise. A NaN sum (a NaN or +inf
      // score) is not empty: it gives lse = NaN and out = NaN (DESIGN.md §6). row_max alone
      // cannot tell: fmaxf skips NaN, so a row of NaN scores keeps row_max = -inf.
      const bool empty = l == 0.f;
      lse_tile[mt][hi] = empty ? -INFINITY : (sm.row_max[mt][hi] * scale + log2f(l)) * kLn2;
      inv[mt][hi] = empty ? 0.f : 1.f / l;
      skip[mt][hi] = row >= row_end || (empty && p.out_mode == FwdOutMode::kMergeFp32);
    }
  if (p.max_logits != nullptr) merge_max_logits(p, head, row_base, row_end, sm, scale, lane);

  if (p.out_mode != FwdOutMode::kMergeFp32) {
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
      for (int hi = 0; hi < 2; ++hi) {
        if (skip[mt][hi]) continue;
        const int row = row_base + 16 * mt + g + 8 * hi;
        const int64_t off = row * p.o_row_stride + head * p.o_head_stride + 2 * t;
#pragma unroll
        for (int nt = 0; nt < kNO; ++nt) {
          const float x = o[mt][nt][2 * hi] * inv[mt][hi];
          const float y = o[mt][nt][2 * hi + 1] * inv[mt][hi];
          if (p.out_mode == FwdOutMode::kStoreBf16) {
            reinterpret_cast<__nv_bfloat162*>(static_cast<__nv_bfloat16*>(p.out) + off)[4 * nt] =
                __floats2bfloat162_rn(x, y);
          } else if (p.out_mode == FwdOutMode::kStoreFp16) {
            reinterpret_cast<__half2*>(static_cast<__half*>(p.out) + off)[4 * nt] =
                __floats2half2_rn(x, y);
          } else {
            reinterpret_cast<float2*>(static_cast<float*>(p.out) + off)[4 * nt] = make_float2(x, y);
          }
        }
        if (t == 0) p.lse[row * p.lse_row_stride + head * p.lse_head_stride] = lse_tile[mt][hi];
      }
    return;
  }

  // Merge: out = w_old * out + w_new * o, lse = logaddexp(lse_old, lse_tile). This CTA owns
  // its rows (one work item per row block), so plain read-modify-write is race-free.
  float lse_old[kMT][2];
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
    for (int hi = 0; hi < 2; ++hi) {
      const int row = row_base + 16 * mt + g + 8 * hi;
      lse_old[mt][hi] =
          skip[mt][hi] ? 0.f : p.lse[row * p.lse_row_stride + head * p.lse_head_stride];
    }
  __syncwarp();  // every lane of the quad has read lse before lane t == 0 overwrites it
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
    for (int hi = 0; hi < 2; ++hi) {
      if (skip[mt][hi]) continue;
      const int row = row_base + 16 * mt + g + 8 * hi;
      const float a = lse_old[mt][hi], b = lse_tile[mt][hi];
      float lse_new, w_old, w_new;
      if (a == -INFINITY) {
        lse_new = b;
        w_old = 0.f;
        w_new = 1.f;
      } else {
        const float mx = fmaxf(a, b);
        lse_new = mx + log1pf(expf(-fabsf(a - b)));
        w_old = expf(a - lse_new);
        w_new = expf(b - lse_new);
      }
      const float wn = w_new * inv[mt][hi];
      float2* out = reinterpret_cast<float2*>(static_cast<float*>(p.out) + row * p.o_row_stride +
                                              head * p.o_head_stride + 2 * t);
#pragma unroll
      for (int nt = 0; nt < kNO; ++nt) {
        float2 prev = make_float2(0.f, 0.f);
        if (w_old != 0.f) prev = out[4 * nt];
        out[4 * nt] = make_float2(w_old * prev.x + wn * o[mt][nt][2 * hi],
                                  w_old * prev.y + wn * o[mt][nt][2 * hi + 1]);
      }
      if (t == 0) p.lse[row * p.lse_row_stride + head * p.lse_head_stride] = lse_new;
    }
}

/// The rows of an item without keys: out = 0 and lse = -inf (store modes); merge mode leaves
/// the accumulators as they are. Same thread -> row map as fwd_epilogue, kNO column blocks of 8.
template <int kNO>
__device__ __forceinline__ void fwd_store_empty_rows(const FwdParams& p, int head, int row_base,
                                                     int row_end, int lane) {
  if (p.out_mode == FwdOutMode::kMergeFp32) return;
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int hi = 0; hi < 2; ++hi) {
    const int row = row_base + g + 8 * hi;
    if (row >= row_end) continue;
    const int64_t off = row * p.o_row_stride + head * p.o_head_stride + 2 * t;
#pragma unroll
    for (int nt = 0; nt < kNO; ++nt) {
      if (p.out_mode == FwdOutMode::kStoreFp32) {
        reinterpret_cast<float2*>(static_cast<float*>(p.out) + off)[4 * nt] = make_float2(0.f, 0.f);
      } else {  // bf16 / fp16: 32 zero bits either way
        reinterpret_cast<uint32_t*>(static_cast<uint16_t*>(p.out) + off)[4 * nt] = 0u;
      }
    }
    if (t == 0) p.lse[row * p.lse_row_stride + head * p.lse_head_stride] = -INFINITY;
  }
}

}  // namespace magi::cuda
