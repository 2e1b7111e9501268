// FFA backward kernel, portable tensor-core path (sm_80+).
//
// One CTA per (work item, query head): kBlockN keys (aligned, global) held in shared memory,
// looping over the query tiles of every segment of the item. Per query tile:
//   S = Q K^T, P = 2^(S - lse), dP = dO V^T, dS = P (dP - D)      (registers -> shared P, dS)
//   dV += P^T dO, dK += dS^T Q                                      (registers, whole loop)
//   dQ += dS K                                                      (fp32 atomics into dq)
// dK and dV are added into the fp32 outputs with atomics at the end (query heads of a GQA
// group and other items never write the same key rows otherwise, but atomics keep this
// independent of the grid order).
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/cuda/ffa/mask.cuh"
#include "kernels/cuda/ffa/params.h"
#include "kernels/cuda/ffa/score.cuh"
#include "kernels/cuda/ffa/tile_copy.cuh"
#include "kernels/cuda/ffa/traits.cuh"
#include "kernels/cuda/ffa/warp_mma.cuh"
#include "kernels/cuda/ptx/cp_async.cuh"
#include "kernels/cuda/ptx/math.cuh"
#include "kernels/cuda/ptx/red.cuh"
#include "kernels/cuda/ptx/shared.cuh"

namespace magi::cuda {

template <int kNT>
__device__ __forceinline__ void atomic_add_tile(float* base, int64_t row_stride, int row0,
                                                int row_limit, int col0,
                                                const float (&acc)[1][kNT][4], float scale,
                                                int lane) {
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int hi = 0; hi < 2; ++hi) {
    const int row = row0 + g + 8 * hi;
    if (row >= row_limit) continue;
    float* dst = base + row * row_stride + col0 + 2 * t;
#pragma unroll
    for (int nt = 0; nt < kNT; ++nt) {
      ptx::red_global_add_v2_f32(dst + 8 * nt, acc[0][nt][2 * hi] * scale,
                                 acc[0][nt][2 * hi + 1] * scale);
    }
  }
}

template <class Tr>
__global__ void __launch_bounds__(Tr::kThreads, Tr::kMinBlocksPerSm)
    ffa_bwd_kernel(const __grid_constant__ BwdParams p) {
  using T = typename Tr::T;
  constexpr Elem E = Tr::kElem;
  constexpr int kD = Tr::kHeadDim, kBM = Tr::kBlockM, kBN = Tr::kBlockN;
  constexpr int kPitch = Tr::kPitch, kPitchP = Tr::kPitchP, kThreads = Tr::kThreads;
  constexpr int kNS = 4;       // n8 tiles of S / dP per warp: 32 keys
  constexpr int kND = kD / 16; // n8 tiles of dK / dV / dQ per warp: half the head dim

  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* s_k = reinterpret_cast<T*>(smem_raw);  // [kBlockN][kPitch] keys x d
  T* s_v = s_k + Tr::kSmemK;                // [kBlockN][kPitch] keys x d
  T* s_q = s_v + Tr::kSmemV;                // [kBlockM][kPitch] q rows x d
  T* s_do = s_q + Tr::kSmemQ;               // [kBlockM][kPitch] q rows x d
  T* s_p = s_do + Tr::kSmemDo;              // [kBlockM][kPitchP] q rows x keys
  T* s_ds = s_p + Tr::kSmemP;               // [kBlockM][kPitchP] q rows x keys
  float* s_lse = reinterpret_cast<float*>(s_ds + Tr::kSmemDs);  // [kBlockM] lse * log2(e)
  float* s_dsum = s_lse + kBM;                                  // [kBlockM] rowsum(dO O)
  const uint32_t a_k = ptx::cvta_to_shared(s_k), a_v = ptx::cvta_to_shared(s_v);
  const uint32_t a_q = ptx::cvta_to_shared(s_q), a_do = ptx::cvta_to_shared(s_do);
  const uint32_t a_p = ptx::cvta_to_shared(s_p), a_ds = ptx::cvta_to_shared(s_ds);

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int g = lane >> 2, t = lane & 3;
  const int wr = warp & 3, wc = warp >> 2;  // row group (16 rows / keys), column half
  // NOTE: head-major order: the CTAs resident together share few heads, so their K/V (forward)
  // or Q/dO (backward) stay in L2; within a head the items run longest first.
  const int head = blockIdx.x / p.num_items;
  const FfaWorkItem item = p.items[blockIdx.x % p.num_items];
  const int kv_head = head / p.heads_per_kv;
  const T* q = static_cast<const T*>(p.q) + head * p.q_head_stride;
  const T* dout = static_cast<const T*>(p.dout) + head * p.do_head_stride;
  const T* k = static_cast<const T*>(p.k) + kv_head * p.k_head_stride;
  const T* v = static_cast<const T*>(p.v) + kv_head * p.v_head_stride;
  const int c0 = item.block_start;
  const ScoreTransform score{p.scale_log2, p.scale_cap, p.softcap_log2, p.use_softcap != 0};

  load_tile_async<kBN, kD, kPitch, kThreads>(a_k, k, p.k_row_stride, c0, p.total_k, tid);
  load_tile_async<kBN, kD, kPitch, kThreads>(a_v, v, p.v_row_stride, c0, p.total_k, tid);
  ptx::cp_async_commit_group();

  float dk[1][kND][4];  // dK: 16 keys x kD/2, fp32
  float dv[1][kND][4];  // dV: 16 keys x kD/2, fp32
  zero_acc(dk);
  zero_acc(dv);

  for (int si = item.seg_begin; si < item.seg_end; ++si) {
    const SegmentMask mask = SegmentMask::load(p.segs + si);
    for (int qb0 = mask.q0; qb0 < mask.q1; qb0 += kBM) {
      __syncthreads();  // the previous tile's Q, dO, P, dS, lse are no longer read
      load_tile_async<kBM, kD, kPitch, kThreads>(a_q, q, p.q_row_stride, qb0, mask.q1, tid);
      load_tile_async<kBM, kD, kPitch, kThreads>(a_do, dout, p.do_row_stride, qb0, mask.q1, tid);
      ptx::cp_async_commit_group();
      if (tid < kBM) {
        const int row = qb0 + tid;
        float l2 = INFINITY, ds = 0.f;
        if (row < mask.q1) {
          const float l = p.lse[row * p.lse_row_stride + head * p.lse_head_stride];
          // NOTE: lse = -inf (a row without cells) -> +inf, so 2^(s - lse) = 0, never NaN.
          l2 = l == -INFINITY ? INFINITY : l * kLog2e;
          ds = p.dsum[static_cast<int64_t>(row) * p.num_heads_q + head];
        }
        s_lse[tid] = l2;
        s_dsum[tid] = ds;
      }
      ptx::cp_async_wait_group<0>();
      __syncthreads();

      float s[1][kNS][4];   // S: 16 q rows x 32 keys
      float dp[1][kNS][4];  // dP: 16 q rows x 32 keys
      zero_acc(s);
      zero_acc(dp);
      warp_gemm_ss<E, 1, kNS, kD, ALayout::kMK, BLayout::kNK>(s, a_q, kPitch, 16 * wr, 0, a_k,
                                                              kPitch, 32 * wc, 0, lane);
      warp_gemm_ss<E, 1, kNS, kD, ALayout::kMK, BLayout::kNK>(dp, a_do, kPitch, 16 * wr, 0, a_v,
                                                              kPitch, 32 * wc, 0, lane);
      const bool interior = mask.tile_is_interior(qb0, kBM, c0, kBN);
#pragma unroll
      for (int nt = 0; nt < kNS; ++nt)
#pragma unroll
        for (int hi = 0; hi < 2; ++hi) {
          const int rl = 16 * wr + g + 8 * hi;
          const int cl = 32 * wc + 8 * nt + 2 * t;
          const float lse2 = s_lse[rl], dsum = s_dsum[rl];
          float pv[2], dsv[2];
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const float raw = s[0][nt][2 * hi + e];
            float x, dfac = 1.f;
            if (score.use_softcap) {
              const float th = ptx::tanh_approx(raw * score.scale_cap);
              x = score.softcap_log2 * th;
              dfac = 1.f - th * th;
            } else {
              x = raw * score.scale_log2;
            }
            const bool ok = interior || mask.contains(qb0 + rl, c0 + cl + e);
            pv[e] = ok ? ptx::ex2_approx_ftz(x - lse2) : 0.f;
            dsv[e] = pv[e] * (dp[0][nt][2 * hi + e] - dsum) * dfac;
          }
          *reinterpret_cast<uint32_t*>(s_p + rl * kPitchP + cl) = pack2<E>(pv[0], pv[1]);
          *reinterpret_cast<uint32_t*>(s_ds + rl * kPitchP + cl) = pack2<E>(dsv[0], dsv[1]);
        }
      __syncthreads();

      // dV += P^T dO, dK += dS^T Q: rows = keys 16 wr .., cols = d (kD/2) wc .., k = q rows.
      warp_gemm_ss<E, 1, kND, kBM, ALayout::kKM, BLayout::kKN>(dv, a_p, kPitchP, 16 * wr, 0, a_do,
                                                               kPitch, (kD / 2) * wc, 0, lane);
      warp_gemm_ss<E, 1, kND, kBM, ALayout::kKM, BLayout::kKN>(dk, a_ds, kPitchP, 16 * wr, 0, a_q,
                                                               kPitch, (kD / 2) * wc, 0, lane);
      // dQ = dS K: rows = q 16 wr .., cols = d (kD/2) wc .., k = keys.
      float dq[1][kND][4];  // 16 q rows x kD/2
      zero_acc(dq);
      warp_gemm_ss<E, 1, kND, kBN, ALayout::kMK, BLayout::kKN>(dq, a_ds, kPitchP, 16 * wr, 0, a_k,
                                                               kPitch, (kD / 2) * wc, 0, lane);
      atomic_add_tile<kND>(p.dq + head * p.dq_head_stride, p.dq_row_stride, qb0 + 16 * wr, mask.q1,
                           (kD / 2) * wc, dq, p.scale, lane);
    }
  }
  ptx::cp_async_wait_group<0>();
  atomic_add_tile<kND>(p.dk + kv_head * p.dk_head_stride, p.dk_row_stride, c0 + 16 * wr,
                       p.total_k, (kD / 2) * wc, dk, p.scale, lane);
  atomic_add_tile<kND>(p.dv + kv_head * p.dv_head_stride, p.dv_row_stride, c0 + 16 * wr,
                       p.total_k, (kD / 2) * wc, dv, 1.f, lane);
}

/// dsum[r * Hq + h] = sum_d dout[r, h, d] * out[r, h, d]: one warp per (row, head).
template <class OutT, class DoT>
__global__ void ffa_bwd_preprocess_kernel(const __grid_constant__ BwdPreParams p) {
  const int64_t w = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (w >= static_cast<int64_t>(p.total_q) * p.num_heads_q) return;
  const int64_t row = w / p.num_heads_q;
  const int head = static_cast<int>(w % p.num_heads_q);
  const OutT* o = static_cast<const OutT*>(p.out) + row * p.o_row_stride + head * p.o_head_stride;
  const DoT* d = static_cast<const DoT*>(p.dout) + row * p.do_row_stride + head * p.do_head_stride;
  float acc = 0.f;
  for (int i = lane; i < p.head_dim; i += 32) {
    acc += static_cast<float>(o[i]) * static_cast<float>(d[i]);
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
  if (lane == 0) p.dsum[w] = acc;
}

}  // namespace magi::cuda
