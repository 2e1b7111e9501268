// FFA forward kernel, Hopper path (sm_90a: wgmma from swizzled shared tiles).
//
// One CTA per (work item, query head), two warpgroups: warpgroup w owns query rows
// [64 w, 64 w + 64) of the item's 128-row block. Per key tile of kBlockN keys:
//   S = Q K^T   wgmma, A = Q (shared, K-major), B = K (shared, K-major)
//   online softmax in registers (the accumulator layout of one warp is the mma.sync layout
//   with 16 rows, so the portable path's softmax, masking and epilogue are reused)
//   O += P V    wgmma, A = P (registers), B = V (shared, MN-major: the same bytes as K)
// K/V tiles come through a ring of kStages buffers filled by cp.async, one barrier per tile.
#pragma once

#include <cstdint>

#include "kernels/cuda/ffa/fwd_epilogue.cuh"
#include "kernels/cuda/ffa/fwd_kernel.cuh"
#include "kernels/cuda/ffa/sm90/smem_tile.cuh"
#include "kernels/cuda/ptx/shared.cuh"

namespace magi::cuda::sm90 {

template <Elem E, int kHeadDim_>
struct FwdTraits {
  static constexpr Elem kElem = E;
  using T = typename ElemInfo<E>::T;
  static constexpr int kHeadDim = kHeadDim_;
  static constexpr int kWarpGroups = 2;
  static constexpr int kThreads = kWarpGroups * 128;
  static constexpr int kBlockM = 64 * kWarpGroups;
  static constexpr int kBlockN = 128;
  static constexpr int kStages = 2;
  using QTile = Sw128Tile<kBlockM, kHeadDim>;
  using KvTile = Sw128Tile<kBlockN, kHeadDim>;
  // + 1024: the dynamic shared window is aligned up to the swizzle period in the kernel.
  static constexpr int kSmemBytes = QTile::kBytes + 2 * kStages * KvTile::kBytes + 1024;
  static_assert(kSmemBytes <= 227 * 1024);
};

template <class Tr, Softcap kCap>
__global__ void __launch_bounds__(Tr::kThreads, 1)
    ffa_fwd_sm90_kernel(const __grid_constant__ FwdParams p) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using T = typename Tr::T;
  constexpr Elem E = Tr::kElem;
  constexpr bool kBf16 = E == Elem::kBf16;
  constexpr int kD = Tr::kHeadDim, kBN = Tr::kBlockN;
  constexpr int kStages = Tr::kStages, kThreads = Tr::kThreads;
  using QTile = typename Tr::QTile;
  using KvTile = typename Tr::KvTile;

  extern __shared__ unsigned char smem_raw[];
  const uint32_t a_q = (ptx::cvta_to_shared(smem_raw) + 1023u) & ~1023u;
  const uint32_t a_k0 = a_q + QTile::kBytes;              // [kStages] K tiles
  const uint32_t a_v0 = a_k0 + kStages * KvTile::kBytes;  // [kStages] V tiles

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int wg = warp >> 2;
  const int head = blockIdx.x % p.num_heads_q;
  const FfaWorkItem item = p.items[blockIdx.x / p.num_heads_q];
  const int kv_head = head / p.heads_per_kv;
  const T* q = static_cast<const T*>(p.q) + head * p.q_head_stride;
  const T* k = static_cast<const T*>(p.k) + kv_head * p.k_head_stride;
  const T* v = static_cast<const T*>(p.v) + kv_head * p.v_head_stride;
  const int r0 = item.block_start;
  const int wg_row0 = r0 + 64 * wg;                 // first row of this warpgroup
  const int warp_row0 = wg_row0 + 16 * (warp & 3);  // first row of this warp's accumulators
  const ScoreTransform score{p.scale_log2, p.scale_cap, p.softcap_log2, p.use_softcap != 0};
  const float sm_scale = kCap == Softcap::kOn ? 1.f : score.scale_log2;

  float o[1][kD / 8][4];
  zero_acc(o);
  OnlineSoftmax<1> softmax;
  softmax.init();

  QTile::template load_async<kThreads>(a_q, q, p.q_row_stride, r0, p.total_q, tid);
  const bool any = item.seg_begin < item.seg_end;
  KeyTileCursor load_cur{item.seg_begin, any ? p.segs[item.seg_begin].k0 : 0,
                         any ? p.segs[item.seg_begin].k1 : 0};
  bool load_ok = any;
  int load_stage = 0;
  // The next K/V tile into the next ring stage: one commit group per call (empty past the end).
  auto load_next_kv = [&]() {
    if (load_ok) {
      KvTile::template load_async<kThreads>(a_k0 + load_stage * KvTile::kBytes, k, p.k_row_stride,
                                            load_cur.c0, load_cur.k1, tid);
      KvTile::template load_async<kThreads>(a_v0 + load_stage * KvTile::kBytes, v, p.v_row_stride,
                                            load_cur.c0, load_cur.k1, tid);
      load_ok = next_key_tile<Tr>(p, item, load_cur);
    }
    ptx::cp_async_commit_group();
    load_stage = load_stage + 1 == kStages ? 0 : load_stage + 1;
  };
#pragma unroll
  for (int i = 0; i < kStages - 1; ++i) load_next_kv();

  if (any) {
    KeyTileCursor cur{item.seg_begin, p.segs[item.seg_begin].k0, p.segs[item.seg_begin].k1};
    int stage = 0;
    while (true) {
      ptx::cp_async_wait_group<kStages - 2>();
      ptx::fence_proxy_async_shared();  // cp.async bytes -> visible to wgmma's operand reads
      __syncthreads();  // tile `stage` landed; every warpgroup is done with the stage refilled
      load_next_kv();

      const SegmentMask mask = SegmentMask::load(p.segs + cur.seg);
      // NOTE: the skip is decided per warpgroup (wgmma is warpgroup-wide).
      if (!mask.tile_is_empty(wg_row0, 64, cur.c0, kBN)) {
        const uint32_t a_k = a_k0 + stage * KvTile::kBytes;
        const uint32_t a_v = a_v0 + stage * KvTile::kBytes;
        float s[1][kBN / 8][4];
        ptx::wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < kD / 16; ++kk) {
          ptx::Wgmma<kBN, kBf16>::template ss<0, 0>(s[0], QTile::k_major(a_q, 64 * wg, kk),
                                                    KvTile::k_major(a_k, 0, kk), kk > 0);
        }
        ptx::wgmma_commit_group();
        ptx::wgmma_wait_group<0>();
        fence_acc(s[0]);
        transform_and_mask<1, kBN / 8, kCap == Softcap::kOn>(s, score, mask, warp_row0, cur.c0, 16,
                                                             kBN, lane);
        softmax.update(s, o, sm_scale);
        uint32_t pa[1][kBN / 16][4];
        acc_to_a<E>(s, pa);
        fence_acc(o[0]);
        ptx::wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < kBN / 16; ++kk) {
          ptx::Wgmma<kD, kBf16>::template rs<1>(o[0], pa[0][kk], KvTile::mn_major(a_v, kk, 0), 1);
        }
        ptx::wgmma_commit_group();
        ptx::wgmma_wait_group<0>();
        fence_acc(o[0]);
        fence_frag(pa[0]);
      }
      if (!next_key_tile<Tr>(p, item, cur)) break;
      stage = stage + 1 == kStages ? 0 : stage + 1;
    }
  }
  ptx::cp_async_wait_group<0>();
  fwd_epilogue(p, head, warp_row0, item.block_end, o, softmax, sm_scale, lane);
#else
  __trap();  // built without sm_90a: the launcher never selects this kernel then
#endif
}

}  // namespace magi::cuda::sm90
