// FFA backward kernel, Hopper path (sm_90a: wgmma from swizzled shared tiles).
//
// One CTA per (work item, query head): 128 keys held in shared memory, two warpgroups, warp-
// group w owning keys [64 w, 64 w + 64). Per tile of 64 query rows (Q, dO, lse, D double-
// buffered by cp.async), with the products computed transposed so that P and dS come out of
// the accumulators already in the A-operand layout of the next products:
//   S^T  = K Q^T,  dP^T = V dO^T                 wgmma ss (K-major operands)
//   P^T  = 2^(S^T - lse),  dS^T = P^T (dP^T - D)  registers
//   dV  += P^T dO,  dK += dS^T Q                  wgmma rs (B = dO, Q MN-major)
//   dQ   = dS K                                   wgmma ss, A = dS^T tile in shared memory
//                                                 (MN-major), B = K (MN-major); fp32 red
// dK and dV are added into the fp32 outputs once at the end.
#pragma once

#include <cstdint>
#include <type_traits>

#include "kernels/cuda/ffa/bwd_kernel.cuh"
#include "kernels/cuda/ffa/sm90/smem_tile.cuh"
#include "kernels/cuda/ptx/shared.cuh"
#include "kernels/cuda/ptx/wgmma.cuh"

namespace magi::cuda::sm90 {

template <Elem E, int kHeadDim_>
struct BwdTraits {
  static constexpr Elem kElem = E;
  using T = typename ElemInfo<E>::T;
  static constexpr int kHeadDim = kHeadDim_;
  static constexpr int kWarpGroups = 2;
  static constexpr int kThreads = kWarpGroups * 128;
  static constexpr int kBlockN = 64 * kWarpGroups;  // keys per work item
  static constexpr int kBlockM = 64;                // query rows per tile
  static constexpr int kStages = 3;                 // query tiles in the ring
  using KvTile = Sw128Tile<kBlockN, kHeadDim>;
  using QTile = Sw128Tile<kBlockM, kHeadDim>;  // Q and dO, per stage
  using DsTile = Sw128Tile<kBlockN, kBlockM>;  // dS^T: keys x query rows
  static constexpr int kSmemBytes = 2 * KvTile::kBytes + 2 * kStages * QTile::kBytes +
                                    DsTile::kBytes + 2 * kStages * kBlockM * 4 + 1024;
  static_assert(kSmemBytes <= 227 * 1024);
};

template <class Tr, Softcap kCap>
__global__ void __launch_bounds__(Tr::kThreads, 1)
    ffa_bwd_sm90_kernel(const __grid_constant__ BwdParams p) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using T = typename Tr::T;
  constexpr Elem E = Tr::kElem;
  constexpr bool kBf16 = E == Elem::kBf16;
  constexpr int kD = Tr::kHeadDim, kBM = Tr::kBlockM, kBN = Tr::kBlockN;
  constexpr int kThreads = Tr::kThreads, kStages = Tr::kStages;
  using KvTile = typename Tr::KvTile;
  using QTile = typename Tr::QTile;
  using DsTile = typename Tr::DsTile;

  extern __shared__ unsigned char smem_raw[];
  const uint32_t raw = ptx::cvta_to_shared(smem_raw);
  const uint32_t a_k = (raw + 1023u) & ~1023u;
  const uint32_t a_v = a_k + KvTile::kBytes;
  const uint32_t a_q0 = a_v + KvTile::kBytes;             // [kStages] Q tiles
  const uint32_t a_do0 = a_q0 + kStages * QTile::kBytes;  // [kStages] dO tiles
  const uint32_t a_ds = a_do0 + kStages * QTile::kBytes;  // dS^T
  const uint32_t a_lse0 = a_ds + DsTile::kBytes;          // [kStages][kBM] lse
  const uint32_t a_dsum0 = a_lse0 + kStages * kBM * 4;    // [kStages][kBM] D

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int wg = warp >> 2, g = lane >> 2, t = lane & 3;
  const int head = blockIdx.x % p.num_heads_q;
  const FfaWorkItem item = p.items[blockIdx.x / p.num_heads_q];
  const int kv_head = head / p.heads_per_kv;
  const T* k = static_cast<const T*>(p.k) + kv_head * p.k_head_stride;
  const T* v = static_cast<const T*>(p.v) + kv_head * p.v_head_stride;
  const int c0 = item.block_start;
  // End of the keys any segment of the item covers (= item.block_end; dK / dV rows to write),
  // recomputed where needed rather than kept in a register through the loop.
  auto key_end_of = [&]() {
    int e = c0;
    for (int si = item.seg_begin; si < item.seg_end; ++si) e = max(e, p.segs[si].k1);
    return e;
  };
  const int key_wg0 = 64 * wg;                      // this warpgroup's first key (local)
  const int key_warp0 = key_wg0 + 16 * (warp & 3);  // first key of this warp's accumulators

  {
    const int key_end = key_end_of();
    KvTile::template load_async<kThreads>(a_k, k, p.k_row_stride, c0, key_end, tid);
    KvTile::template load_async<kThreads>(a_v, v, p.v_row_stride, c0, key_end, tid);
  }
  ptx::cp_async_commit_group();

  float dk[kD / 8][4], dv[kD / 8][4];  // rows: this warp's 16 keys; cols: d
  {
    float(&dk2)[1][kD / 8][4] = reinterpret_cast<float(&)[1][kD / 8][4]>(dk);
    float(&dv2)[1][kD / 8][4] = reinterpret_cast<float(&)[1][kD / 8][4]>(dv);
    zero_acc(dk2);
    zero_acc(dv2);
  }

  // Q / dO / lse / D of one query tile into stage `st`, one cp.async group (empty when !ok).
  auto load_q_stage = [&](const QTileCursor& c, int st, bool ok_tile) {
    if (ok_tile) {
      // NOTE: the head's base pointers are recomputed per tile (registers are the limit here).
      const T* q = static_cast<const T*>(p.q) + head * p.q_head_stride;
      const T* dout = static_cast<const T*>(p.dout) + head * p.do_head_stride;
      QTile::template load_async<kThreads>(a_q0 + st * QTile::kBytes, q, p.q_row_stride, c.qb0,
                                           c.q1, tid);
      QTile::template load_async<kThreads>(a_do0 + st * QTile::kBytes, dout, p.do_row_stride, c.qb0,
                                           c.q1, tid);
      load_row_stats_async<kBM>(p, c, head, a_lse0 + st * kBM * 4, a_dsum0 + st * kBM * 4, tid);
    }
    ptx::cp_async_commit_group();
  };

  if (item.seg_begin < item.seg_end) {
    QTileCursor cur{item.seg_begin, p.segs[item.seg_begin].q0, p.segs[item.seg_begin].q1};
    // Ring of kStages query tiles, kStages - 1 ahead; one group per tile slot (empty past the
    // end), so "tile j landed" is always cp.async.wait_group<kStages - 2>.
    QTileCursor ld = cur;
    bool ld_ok = true;
#pragma unroll
    for (int i = 0; i < kStages - 1; ++i) {
      load_q_stage(ld, i, ld_ok);
      if (ld_ok) ld_ok = next_q_tile<Tr>(p, item, ld);
    }
    int stage = 0, ld_stage = kStages - 1;
    while (true) {
      ptx::cp_async_wait_group<kStages - 2>();
      ptx::fence_proxy_async_shared();
      // This stage's Q, dO, lse, D (and K, V) are visible; every warpgroup is done with the
      // previous tile (its dQ product read dS^T).
      __syncthreads();
      const uint32_t a_q = a_q0 + stage * QTile::kBytes, a_do = a_do0 + stage * QTile::kBytes;
      const uint32_t a_lse = a_lse0 + stage * kBM * 4, a_dsum = a_dsum0 + stage * kBM * 4;
      const SegmentMask mask = SegmentMask::load(p.segs + cur.seg);

      // Per warpgroup: its 64 keys x the tile's 64 rows. Commit groups, in order:
      // S^T | dP^T | dV | dK | dQ, so that P^T is computed while dP^T runs and dS^T while dV
      // runs.
      uint32_t pa[kBM / 16][4], dsa[kBM / 16][4];   // P^T, dS^T as A fragments (k = q rows)
      float st[1][kBM / 8][4], dpt[1][kBM / 8][4];  // S^T, dP^T: 16 keys x 64 rows per warp
      const bool wg_empty = mask.tile_is_empty(cur.qb0, kBM, c0 + key_wg0, 64);
      if (!wg_empty) {
        ptx::wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < kD / 16; ++kk) {
          ptx::Wgmma<kBM, kBf16>::template ss<0, 0>(st[0], KvTile::k_major(a_k, key_wg0, kk),
                                                    QTile::k_major(a_q, 0, kk), kk > 0);
        }
        ptx::wgmma_commit_group();
#pragma unroll
        for (int kk = 0; kk < kD / 16; ++kk) {
          ptx::Wgmma<kBM, kBf16>::template ss<0, 0>(dpt[0], KvTile::k_major(a_v, key_wg0, kk),
                                                    QTile::k_major(a_do, 0, kk), kk > 0);
        }
        ptx::wgmma_commit_group();
      }
      if (wg_empty) {
#pragma unroll
        for (int kk = 0; kk < kBM / 16; ++kk)
#pragma unroll
          for (int e = 0; e < 4; ++e) dsa[kk][e] = 0u;
      } else {
        ptx::wgmma_wait_group<1>();  // S^T
        ptx::fence_acc(st[0]);
        // Rows are keys, columns query rows: cell (key, row) is in the mask iff
        // mask.contains(row, key); interior tiles (most of them) skip the test.
        // Softcap: dS also carries 1 - tanh^2 of each cell (unused registers otherwise).
        float dfac[kCap == Softcap::kOn ? kBM / 8 : 1][4];
        auto probs = [&](auto masked) {
#pragma unroll
          for (int nt = 0; nt < kBM / 8; ++nt) {
            const float2 lse_pair = ptx::ld_shared_f32x2(a_lse + (8 * nt + 2 * t) * 4);
#pragma unroll
            for (int e = 0; e < 2; ++e) {
              const int rl = 8 * nt + 2 * t + e;  // local query row
              const float lse = e == 0 ? lse_pair.x : lse_pair.y;
              // NOTE: lse = -inf (a row without cells) -> +inf: 2^(s - lse) = 0, never NaN.
              const float lse2 = lse == -INFINITY ? INFINITY : lse * kLog2e;
#pragma unroll
              for (int hi = 0; hi < 2; ++hi) {
                const float raw = st[0][nt][2 * hi + e];
                float x;
                if constexpr (kCap == Softcap::kOn) {
                  const float th = ptx::tanh_approx(raw * p.scale_cap);
                  x = fmaf(p.softcap_log2, th, -lse2);
                  dfac[nt][2 * hi + e] = 1.f - th * th;
                } else {
                  x = fmaf(raw, p.scale_log2, -lse2);
                }
                float pv = ptx::ex2_approx_ftz(x);
                if constexpr (decltype(masked)::value) {
                  if (!mask.contains(cur.qb0 + rl, c0 + key_warp0 + g + 8 * hi)) pv = 0.f;
                }
                st[0][nt][2 * hi + e] = pv;
              }
            }
          }
        };
        // NOTE: two instances of the loop; one with a per-cell `interior ||` test measured
        // 15 % slower (bench/NOTES.md).
        if (mask.tile_is_interior(cur.qb0, kBM, c0 + key_warp0, 16)) {
          probs(std::false_type{});
        } else {
          probs(std::true_type{});
        }
        acc_to_a<E>(st, reinterpret_cast<uint32_t(&)[1][kBM / 16][4]>(pa));
        ptx::fence_acc(dv);
        ptx::wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < kBM / 16; ++kk) {
          ptx::Wgmma<kD, kBf16>::template rs<1>(dv, pa[kk], QTile::mn_major(a_do, kk, 0), 1);
        }
        ptx::wgmma_commit_group();
        ptx::wgmma_wait_group<1>();  // dP^T (dV may still run)
        ptx::fence_acc(dpt[0]);
#pragma unroll
        for (int nt = 0; nt < kBM / 8; ++nt) {
          const float2 dsum_pair = ptx::ld_shared_f32x2(a_dsum + (8 * nt + 2 * t) * 4);
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const float dsum = e == 0 ? dsum_pair.x : dsum_pair.y;
#pragma unroll
            for (int hi = 0; hi < 2; ++hi) {
              float& d = dpt[0][nt][2 * hi + e];
              d = st[0][nt][2 * hi + e] * (d - dsum);
              if constexpr (kCap == Softcap::kOn) d *= dfac[nt][2 * hi + e];
            }
          }
        }
        acc_to_a<E>(dpt, reinterpret_cast<uint32_t(&)[1][kBM / 16][4]>(dsa));
      }
      auto issue_dk = [&]() {
        if (!wg_empty) {
          ptx::fence_acc(dk);
          ptx::wgmma_fence();
#pragma unroll
          for (int kk = 0; kk < kBM / 16; ++kk) {
            ptx::Wgmma<kD, kBf16>::template rs<1>(dk, dsa[kk], QTile::mn_major(a_q, kk, 0), 1);
          }
          ptx::wgmma_commit_group();
        }
      };
      // NOTE: dK is queued before the dS^T stores (it reads dS^T from registers): 1 % faster.
      issue_dk();
      // dS^T -> shared (keys x rows) for dQ; fragment [kk][j]: row g + 8 (j & 1), columns
      // 16 kk + 8 (j >> 1) + 2t.
#pragma unroll
      for (int kk = 0; kk < kBM / 16; ++kk)
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const int kr = key_warp0 + g + 8 * (j & 1), col = 16 * kk + 8 * (j >> 1) + 2 * t;
          ptx::st_shared_b32(a_ds + DsTile::offset(kr, col), dsa[kk][j]);
        }
      ptx::fence_proxy_async_shared();  // dS^T stores -> visible to wgmma
      // dS^T of both warpgroups stored; every warpgroup is past the previous tile, so its
      // stage can be refilled with the tile kStages - 1 ahead.
      __syncthreads();
      load_q_stage(ld, ld_stage, ld_ok);
      if (ld_ok) ld_ok = next_q_tile<Tr>(p, item, ld);
      ld_stage = ld_stage + 1 == kStages ? 0 : ld_stage + 1;

      // dQ = dS K. Head dim 128: warpgroup w computes columns [64 w, 64 w + 64) over all 128
      // keys; head dim 64: all 64 columns over its own 64 keys (both add into dq).
      float dq[1][8][4];  // rows: this warp's 16 query rows; cols: 64 of d
      ptx::wgmma_fence();
      if constexpr (kD == 128) {
#pragma unroll
        for (int kk = 0; kk < kBN / 16; ++kk) {
          ptx::Wgmma<64, kBf16>::template ss<1, 1>(dq[0], DsTile::mn_major(a_ds, kk, 0),
                                                   KvTile::mn_major(a_k, kk, 64 * wg), kk > 0);
        }
      } else {
        static_assert(kD == 64);
#pragma unroll
        for (int kk = 0; kk < 4; ++kk) {
          ptx::Wgmma<64, kBf16>::template ss<1, 1>(dq[0], DsTile::mn_major(a_ds, 4 * wg + kk, 0),
                                                   KvTile::mn_major(a_k, 4 * wg + kk, 0), kk > 0);
        }
      }
      ptx::wgmma_commit_group();
      ptx::wgmma_wait_group<0>();
      ptx::fence_acc(dq[0]);
      ptx::fence_acc(dk);
      ptx::fence_acc(dv);
      ptx::fence_frag(pa);
      ptx::fence_frag(dsa);
      red_add_tile(p.dq + head * p.dq_head_stride, p.dq_row_stride, cur.qb0 + 16 * (warp & 3),
                   cur.q1, kD == 128 ? 64 * wg : 0, dq, p.scale, lane);
      if (!next_q_tile<Tr>(p, item, cur)) break;
      stage = stage + 1 == kStages ? 0 : stage + 1;
    }
  }
  ptx::cp_async_wait_group<0>();
  const int key_end = key_end_of();
  if (p.dkv_store) {
    // This item is the only writer of its key rows (the host checked): plain stores in q's
    // dtype, no fp32 round trip.
#pragma unroll
    for (int hi = 0; hi < 2; ++hi) {
      const int key = c0 + key_warp0 + g + 8 * hi;
      if (key >= key_end) continue;
      T* gk = static_cast<T*>(p.dk_store) + kv_head * p.dk_head_stride + key * p.dk_row_stride;
      T* gv = static_cast<T*>(p.dv_store) + kv_head * p.dv_head_stride + key * p.dv_row_stride;
#pragma unroll
      for (int nt = 0; nt < kD / 8; ++nt) {
        const int col = 8 * nt + 2 * t;
        *reinterpret_cast<uint32_t*>(gk + col) =
            pack2<E>(dk[nt][2 * hi] * p.scale, dk[nt][2 * hi + 1] * p.scale);
        *reinterpret_cast<uint32_t*>(gv + col) = pack2<E>(dv[nt][2 * hi], dv[nt][2 * hi + 1]);
      }
    }
    return;
  }
  float(&dk2)[1][kD / 8][4] = reinterpret_cast<float(&)[1][kD / 8][4]>(dk);
  float(&dv2)[1][kD / 8][4] = reinterpret_cast<float(&)[1][kD / 8][4]>(dv);
  red_add_tile(p.dk + kv_head * p.dk_head_stride, p.dk_row_stride, c0 + key_warp0, key_end, 0, dk2,
               p.scale, lane);
  red_add_tile(p.dv + kv_head * p.dv_head_stride, p.dv_row_stride, c0 + key_warp0, key_end, 0, dv2,
               1.f, lane);
#else
  __trap();  // built without sm_90a: the launcher never selects this kernel then
#endif
}

}  // namespace magi::cuda::sm90
