// FFA forward kernel, portable tensor-core path (sm_80+: mma.sync, ldmatrix, cp.async).
//
// One CTA per (work item, query head): kBlockM query rows (aligned, global) against the keys
// of every segment of the item, with an online softmax across segments. Pipeline: a ring of
// kStages K/V tiles filled by cp.async, kStages - 1 tiles ahead of the math; one barrier per
// tile.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/cuda/ffa/fwd_epilogue.cuh"
#include "kernels/cuda/ffa/mask.cuh"
#include "kernels/cuda/ffa/params.h"
#include "kernels/cuda/ffa/score.cuh"
#include "kernels/cuda/ffa/softmax.cuh"
#include "kernels/cuda/ffa/tile_copy.cuh"
#include "kernels/cuda/ffa/traits.cuh"
#include "kernels/cuda/ffa/warp_mma.cuh"
#include "kernels/cuda/ptx/cp_async.cuh"
#include "kernels/cuda/ptx/shared.cuh"

namespace magi::cuda {

/// Position of the key tile being processed: segment index, first key, end of the segment's
/// keys. (The segment's full mask is re-read from L1 where needed, to save registers.)
struct KeyTileCursor {
  int seg;
  int c0;
  int k1;
};

template <class Tr>
__device__ __forceinline__ bool next_key_tile(const FwdParams& p, const FfaWorkItem& item,
                                              KeyTileCursor& cur) {
  cur.c0 += Tr::kBlockN;
  if (cur.c0 < cur.k1) return true;
  if (++cur.seg >= item.seg_end) return false;
  cur.c0 = p.segs[cur.seg].k0;
  cur.k1 = p.segs[cur.seg].k1;
  return true;
}

template <class Tr, Softcap kCap>
__global__ void __launch_bounds__(Tr::kThreads, Tr::kMinBlocksPerSm)
    ffa_fwd_kernel(const __grid_constant__ FwdParams p) {
  using T = typename Tr::T;
  constexpr Elem E = Tr::kElem;
  constexpr int kD = Tr::kHeadDim, kDv = Tr::kHeadDimV, kBM = Tr::kBlockM, kBN = Tr::kBlockN;
  constexpr int kMT = Tr::kWarpMTiles, kPitch = Tr::kPitch, kPitchV = Tr::kPitchV;
  constexpr int kThreads = Tr::kThreads;
  constexpr int kNS = kBN / 8;  // n8 tiles of S per warp (a warp sees all kBlockN keys)
  constexpr int kNO = kDv / 8;  // n8 tiles of O per warp

  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* s_q = reinterpret_cast<T*>(smem_raw);  // [kBlockM][kPitch], row-major (q rows x d)
  T* s_k = s_q + Tr::kSmemQ;                // [kStages][kBlockN][kPitch] (keys x d)
  T* s_v = s_k + Tr::kStages * Tr::kSmemK;  // [kStages][kBlockN][kPitchV] (keys x dv)
  const uint32_t a_q = ptx::cvta_to_shared(s_q);
  const uint32_t a_k0 = ptx::cvta_to_shared(s_k);
  const uint32_t a_v0 = ptx::cvta_to_shared(s_v);
  constexpr uint32_t kStageBytesK = Tr::kSmemK * 2, kStageBytesV = Tr::kSmemV * 2;
  constexpr int kStages = Tr::kStages;

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  // NOTE: item-major order (heads innermost): the longest items of every head start first.
  // (Head-major order measured slower on causal masks: bench/NOTES.md.)
  const int head = blockIdx.x % p.num_heads_q;
  const FfaWorkItem item = p.items[blockIdx.x / p.num_heads_q];
  const int kv_head = head / p.heads_per_kv;
  const T* q = static_cast<const T*>(p.q) + head * p.q_head_stride;
  const T* k = static_cast<const T*>(p.k) + kv_head * p.k_head_stride;
  const T* v = static_cast<const T*>(p.v) + kv_head * p.v_head_stride;
  const int r0 = item.block_start;
  const int warp_row0 = warp * kMT * 16;  // first tile row of this warp
  const ScoreTransform score{p.scale_log2, p.scale_cap, p.softcap_log2, p.use_softcap != 0};

  float o[kMT][kNO][4];  // O accumulators: (16 kMT rows) x kD, fp32
  zero_acc(o);
  OnlineSoftmax<kMT> softmax;
  softmax.init();

  // K/V ring of kStages tiles: tile j lives in stage j % kStages. One commit group per tile
  // (empty past the end), so "tile j landed" is always cp.async.wait_group<kStages - 2>.
  load_tile_async<kBM, kD, kPitch, kThreads>(a_q, q, p.q_row_stride, r0, p.total_q, tid);
  const bool any = item.seg_begin < item.seg_end;
  KeyTileCursor load_cur{item.seg_begin, any ? p.segs[item.seg_begin].k0 : 0,
                         any ? p.segs[item.seg_begin].k1 : 0};
  bool load_ok = any;
  int load_stage = 0;
#pragma unroll
  for (int i = 0; i < kStages - 1; ++i) {
    if (load_ok) {
      load_tile_async<kBN, kD, kPitch, kThreads>(a_k0 + load_stage * kStageBytesK, k,
                                                 p.k_row_stride, load_cur.c0, load_cur.k1, tid);
      load_tile_async<kBN, kDv, kPitchV, kThreads>(a_v0 + load_stage * kStageBytesV, v,
                                                   p.v_row_stride, load_cur.c0, load_cur.k1, tid);
      load_ok = next_key_tile<Tr>(p, item, load_cur);
    }
    ptx::cp_async_commit_group();
    load_stage = load_stage + 1 == kStages ? 0 : load_stage + 1;
  }

  if (any) {
    KeyTileCursor cur{item.seg_begin, p.segs[item.seg_begin].k0, p.segs[item.seg_begin].k1};
    int stage = 0;
    while (true) {
      ptx::cp_async_wait_group<kStages - 2>();
      __syncthreads();  // tile `stage` landed; every warp is done with the stage refilled next
      if (load_ok) {
        load_tile_async<kBN, kD, kPitch, kThreads>(a_k0 + load_stage * kStageBytesK, k,
                                                   p.k_row_stride, load_cur.c0, load_cur.k1, tid);
        load_tile_async<kBN, kDv, kPitchV, kThreads>(a_v0 + load_stage * kStageBytesV, v,
                                                     p.v_row_stride, load_cur.c0, load_cur.k1, tid);
        load_ok = next_key_tile<Tr>(p, item, load_cur);
      }
      ptx::cp_async_commit_group();
      load_stage = load_stage + 1 == kStages ? 0 : load_stage + 1;

      // NOTE: the segment is read before the GEMM so its load latency hides behind it.
      const SegmentMask mask = SegmentMask::load(p.segs + cur.seg);
      // NOTE: a warp whose rows have no cell in this tile (another segment's rows in a block
      // shared by two documents, the empty side of a diagonal) skips the math; it still takes
      // part in the loads and barriers.
      if (!mask.tile_is_empty(r0 + warp_row0, 16 * kMT, cur.c0, kBN)) {
        float s[kMT][kNS][4];  // S = Q K^T: (16 kMT rows) x kBlockN, fp32
        zero_acc(s);
        warp_gemm_ss<E, kMT, kNS, kD, ALayout::kMK, BLayout::kNK>(
            s, a_q, kPitch, warp_row0, 0, a_k0 + stage * kStageBytesK, kPitch, 0, 0, lane);
        // Masking is decided per warp (its 16 kMT rows): a diagonal tile costs the per-cell
        // test only in the warps it crosses.
        transform_and_mask<kMT, kNS, kCap == Softcap::kOn>(s, score, mask, r0 + warp_row0, cur.c0,
                                                           16 * kMT, kBN, lane);
        softmax.update(s, o, kCap == Softcap::kOn ? 1.f : score.scale_log2, p.rescale_slack);
        uint32_t pa[kMT][kBN / 16][4];  // P as A fragments: (16 kMT) x kBlockN
        acc_to_a<E>(s, pa);
        warp_gemm_rs<E, kMT, kNO, kBN, BLayout::kKN>(o, pa, a_v0 + stage * kStageBytesV, kPitchV, 0,
                                                     0, lane);
      }
      if (!next_key_tile<Tr>(p, item, cur)) break;
      stage = stage + 1 == kStages ? 0 : stage + 1;
    }
  }
  ptx::cp_async_wait_group<0>();
  fwd_epilogue(p, head, r0 + warp_row0, item.block_end, o, softmax,
               kCap == Softcap::kOn ? 1.f : score.scale_log2, lane);
}

}  // namespace magi::cuda
