// Cut tiles of the Hopper backward (tile_plan.h: TileCuts; ffa_cuda.cc: bwd_plan_shape):
// the two pieces of a cut tile run on two CTAs, each over part of the tile's query rows. Their
// dQ adds into dq as any tile's does, and where dK / dV are added in fp32 (GQA, accumulate
// mode) so do theirs; where a key row's one owner stores dK / dV in 16 bits
// (BwdParams::dkv_store), each piece instead stores its fp32 accumulators to its slot, and a
// second, small kernel adds a cut's two slots in piece order (so the sum does not depend on
// which piece ran first) and stores dK / dV as the consumers do (store_dkv_rows).
#pragma once

#include <cstdint>

#include "kernels/cuda/ffa/params.h"
#include "kernels/cuda/ffa/sm90/bwd_cut.h"
#include "kernels/cuda/ffa/traits.cuh"
#include "kernels/cuda/ffa/warp_mma.cuh"
#include "kernels/cuda/ptx/grid_dependency.cuh"

namespace magi::cuda::sm90 {

/// This warp's float4 of its slot, lane's first: the dK blocks of all kDNO = head_dim / 8
/// columns blocks, then the dV blocks, 32 float4 apart.
template <int kDNO, int kWarps>
__device__ __forceinline__ float4* bwd_cut_slot(float* partials, int32_t piece, int warp,
                                                int lane) {
  return reinterpret_cast<float4*>(partials) + bwd_cut_block(kDNO, kWarps, piece, warp) + lane;
}

/// A piece's dK / dV accumulators (wgmma layout) of columns [8 b0, 8 b0 + 8 kNO) to its slot
/// (a walk per D pass: b0 = col0 / 8).
template <int kDNO, int kWarps, int kNO>
__device__ __forceinline__ void store_cut_partial(float* partials, int32_t piece, int warp, int b0,
                                                  const float (&dk)[kNO][4],
                                                  const float (&dv)[kNO][4], int lane) {
  float4* to = bwd_cut_slot<kDNO, kWarps>(partials, piece, warp, lane) + 32 * b0;
#pragma unroll
  for (int nt = 0; nt < kNO; ++nt) {
    to[32 * nt] = make_float4(dk[nt][0], dk[nt][1], dk[nt][2], dk[nt][3]);
    to[32 * (kDNO + nt)] = make_float4(dv[nt][0], dv[nt][1], dv[nt][2], dv[nt][3]);
  }
}

/// One warp's 16 rows from row0 (those below `end`) of a [rows x D] tensor at `base`, columns
/// [col0, col0 + 8 kNT), from accumulators in the wgmma layout times `scale`, in q's dtype.
template <Elem E, int kNT>
__device__ __forceinline__ void store_rows16(void* base, int64_t row_stride, int row0, int end,
                                             int col0, const float (&acc)[kNT][4], float scale,
                                             int lane) {
  using T = typename ElemInfo<E>::T;
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int hi = 0; hi < 2; ++hi) {
    const int row = row0 + g + 8 * hi;
    if (row >= end) continue;
    T* to = static_cast<T*>(base) + row * row_stride;
#pragma unroll
    for (int nt = 0; nt < kNT; ++nt) {
      *reinterpret_cast<uint32_t*>(to + col0 + 8 * nt + 2 * t) =
          pack2<E>(acc[nt][2 * hi] * scale, acc[nt][2 * hi + 1] * scale);
    }
  }
}

/// dK (times softmax_scale) and dV of one warp's 16 keys from key0 (rows below `end`), columns
/// [col0, col0 + 8 kNT), stored in q's dtype (BwdParams::dkv_store).
template <Elem E, int kNT>
__device__ __forceinline__ void store_dkv_rows(const BwdParams& p, int kv_head, int key0, int end,
                                               int col0, const float (&dk)[kNT][4],
                                               const float (&dv)[kNT][4], int lane) {
  using T = typename ElemInfo<E>::T;
  store_rows16<E>(static_cast<T*>(p.dk_store) + kv_head * p.dk_head_stride, p.dk_row_stride, key0,
                  end, col0, dk, p.scale, lane);
  store_rows16<E>(static_cast<T*>(p.dv_store) + kv_head * p.dv_head_stride, p.dv_row_stride, key0,
                  end, col0, dv, 1.f, lane);
}

/// One CTA per cut tile, one warp per 16 keys: the two pieces' slots added in piece order, then
/// stored. Launched after the backward (programmatically: it waits for it).
template <Elem E, int kHeadDim, int kWarps>
__global__ void __launch_bounds__(32 * kWarps)
    ffa_bwd_cut_merge_kernel(const __grid_constant__ BwdParams p) {
  constexpr int kDNO = kHeadDim / 8;
  ptx::griddep_wait();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const BwdCut cut = static_cast<const BwdCut*>(p.cuts)[blockIdx.x];
  const FfaWorkItem item = p.items[cut.item];
  const int key0 = item.block_start + 16 * warp;
  if (key0 >= item.block_end) return;
  using T = typename ElemInfo<E>::T;
  const int kv_head = cut.head / p.heads_per_kv;
  const float4* a = bwd_cut_slot<kDNO, kWarps>(p.cut_partials, cut.piece, warp, lane);
  const float4* b = bwd_cut_slot<kDNO, kWarps>(p.cut_partials, cut.piece + 1, warp, lane);
  // dK, then dV, 128 columns at a time (few registers live at once).
  constexpr int kNO = kDNO < 16 ? kDNO : 16;
#pragma unroll 1
  for (int part = 0; part < 2 * kDNO; part += kNO) {
    float acc[kNO][4];
#pragma unroll
    for (int nt = 0; nt < kNO; ++nt) {
      const float4 x = a[32 * (part + nt)], y = b[32 * (part + nt)];
      acc[nt][0] = x.x + y.x;
      acc[nt][1] = x.y + y.y;
      acc[nt][2] = x.z + y.z;
      acc[nt][3] = x.w + y.w;
    }
    if (part < kDNO) {
      store_rows16<E>(static_cast<T*>(p.dk_store) + kv_head * p.dk_head_stride, p.dk_row_stride,
                      key0, item.block_end, 8 * part, acc, p.scale, lane);
    } else {
      store_rows16<E>(static_cast<T*>(p.dv_store) + kv_head * p.dv_head_stride, p.dv_row_stride,
                      key0, item.block_end, 8 * (part - kDNO), acc, 1.f, lane);
    }
  }
}

}  // namespace magi::cuda::sm90
