// FFA backward kernel, portable tensor-core path (sm_80+).
//
// One CTA per (work item, query head): kBlockN keys (aligned, global) held in shared memory,
// looping over the query tiles of every segment of the item, the next tile's Q / dO loading
// while the current one is processed. Per query tile:
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

/// acc (rows row0 + 16 mt + .., cols col0 + 8 nt + ..) * scale added into a fp32 matrix;
/// rows >= row_limit are skipped.
template <int kMT, int kNT>
__device__ __forceinline__ void red_add_tile(float* base, int64_t row_stride, int row0,
                                             int row_limit, int col0,
                                             const float (&acc)[kMT][kNT][4], float scale,
                                             int lane) {
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
    for (int hi = 0; hi < 2; ++hi) {
      const int row = row0 + 16 * mt + g + 8 * hi;
      if (row >= row_limit) continue;
      float* dst = base + row * row_stride + col0 + 2 * t;
#pragma unroll
      for (int nt = 0; nt < kNT; ++nt) {
        ptx::red_global_add_v2_f32(dst + 8 * nt, acc[mt][nt][2 * hi] * scale,
                                   acc[mt][nt][2 * hi + 1] * scale);
      }
    }
}

/// Position in the item's sequence of query tiles: segment, first row, end of its rows.
struct QTileCursor {
  int seg;
  int qb0;
  int q1;
};

template <class Tr>
__device__ __forceinline__ bool next_q_tile(const BwdParams& p, const FfaWorkItem& item,
                                            QTileCursor& cur) {
  cur.qb0 += Tr::kBlockM;
  if (cur.qb0 < cur.q1) return true;
  if (++cur.seg >= item.seg_end) return false;
  cur.qb0 = p.segs[cur.seg].q0;
  cur.q1 = p.segs[cur.seg].q1;
  return true;
}

/// cp.async of the lse and D of query rows [qb0, qb0 + kBM) (zero past the segment's rows)
/// to a_lse / a_dsum, by threads 0 .. 2 kBM - 1.
template <int kBM>
__device__ __forceinline__ void load_row_stats_async(const BwdParams& p, const QTileCursor& cur,
                                                     int head, uint32_t a_lse, uint32_t a_dsum,
                                                     int tid) {
  if (tid < 2 * kBM) {
    const int i = tid % kBM;
    const int row = cur.qb0 + i;
    const bool ok = row < cur.q1;
    const int r = ok ? row : 0;
    const float* src = tid < kBM ? p.lse + r * p.lse_row_stride + head * p.lse_head_stride
                                 : p.dsum + static_cast<int64_t>(r) * p.num_heads_q + head;
    ptx::cp_async_ca_4((tid < kBM ? a_lse : a_dsum) + 4 * i, src, ok ? 4 : 0);
  }
}

/// Issues the loads of one query tile into a stage, all by cp.async (one commit group): Q, dO
/// and the rows' lse and D (zero-filled past the segment's rows, which the mask excludes).
template <class Tr, class T>
__device__ __forceinline__ void load_q_tile(const BwdParams& p, const QTileCursor& cur, int head,
                                            const T* q, const T* dout, uint32_t a_q, uint32_t a_do,
                                            uint32_t a_lse, uint32_t a_dsum, int tid) {
  constexpr int kBM = Tr::kBlockM, kD = Tr::kHeadDim, kPitch = Tr::kPitch;
  constexpr int kDv = Tr::kHeadDimV, kPitchV = Tr::kPitchV;
  load_tile_async<kBM, kD, kPitch, Tr::kThreads>(a_q, q, p.q_row_stride, cur.qb0, cur.q1, tid);
  load_tile_async<kBM, kDv, kPitchV, Tr::kThreads>(a_do, dout, p.do_row_stride, cur.qb0, cur.q1,
                                                   tid);
  load_row_stats_async<kBM>(p, cur, head, a_lse, a_dsum, tid);
  ptx::cp_async_commit_group();
}

/// P = 2^(S - lse) on the segment's cells, dS = P (dP - D) [* (1 - tanh^2) with softcap], both
/// stored to shared memory in the element type. s, dp: this warp's [16 kMT x 8 kNT] tile at
/// (r_local, c_local) of the CTA tile.
template <Elem E, int kMT, int kNT, int kPitchP, bool kSoftcap>
__device__ __forceinline__ void probs_and_dscores(
    const float (&s)[kMT][kNT][4], const float (&dp)[kMT][kNT][4], const ScoreTransform& score,
    const SegmentMask& mask, int qb0, int c0, int r_local, int c_local, const float* s_lse,
    const float* s_dsum, uint16_t* s_p, uint16_t* s_ds, int lane) {
  const int g = lane >> 2, t = lane & 3;
  const bool interior = mask.tile_is_interior(qb0 + r_local, 16 * kMT, c0 + c_local, 8 * kNT);
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
    for (int hi = 0; hi < 2; ++hi) {
      const int rl = r_local + 16 * mt + g + 8 * hi;
      // NOTE: lse = -inf (a row without cells) -> +inf, so 2^(s - lse) = 0, never NaN.
      const float lse = s_lse[rl], dsum = s_dsum[rl];
      const float lse2 = lse == -INFINITY ? INFINITY : lse * kLog2e;
#pragma unroll
      for (int nt = 0; nt < kNT; ++nt) {
        const int cl = c_local + 8 * nt + 2 * t;
        float pv[2], dsv[2];
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const float raw = s[mt][nt][2 * hi + e];
          float x, dfac = 1.f;
          if constexpr (kSoftcap) {
            const float th = ptx::tanh_approx(raw * score.scale_cap);
            x = fmaf(score.softcap_log2, th, -lse2);
            dfac = 1.f - th * th;
          } else {
            x = fmaf(raw, score.scale_log2, -lse2);
          }
          const bool ok = interior || mask.contains(qb0 + rl, c0 + cl + e);
          pv[e] = ok ? ptx::ex2_approx_ftz(x) : 0.f;
          // NOTE: 0 outside the mask even when D is NaN (its row's out is NaN): 0 * NaN would
          // reach the dK / dQ of cells that do not depend on it. A NaN lse gives pv = NaN.
          dsv[e] = ok ? pv[e] * (dp[mt][nt][2 * hi + e] - dsum) * dfac : 0.f;
        }
        *reinterpret_cast<uint32_t*>(s_p + rl * kPitchP + cl) = pack2<E>(pv[0], pv[1]);
        *reinterpret_cast<uint32_t*>(s_ds + rl * kPitchP + cl) = pack2<E>(dsv[0], dsv[1]);
      }
    }
}

/// Zeros of this warp's [16 kMT x 8 kNT] part of a shared P / dS tile.
template <int kMT, int kNT, int kPitchP>
__device__ __forceinline__ void store_zero_tile(uint16_t* tile, int r_local, int c_local,
                                                int lane) {
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
    for (int hi = 0; hi < 2; ++hi)
#pragma unroll
      for (int nt = 0; nt < kNT; ++nt) {
        const int rl = r_local + 16 * mt + g + 8 * hi, cl = c_local + 8 * nt + 2 * t;
        *reinterpret_cast<uint32_t*>(tile + rl * kPitchP + cl) = 0u;
      }
}

template <class Tr, Softcap kCap>
__global__ void __launch_bounds__(Tr::kThreads, Tr::kMinBlocksPerSm)
    ffa_bwd_kernel(const __grid_constant__ BwdParams p) {
  using T = typename Tr::T;
  constexpr Elem E = Tr::kElem;
  constexpr int kD = Tr::kHeadDim, kDv = Tr::kHeadDimV, kBM = Tr::kBlockM, kBN = Tr::kBlockN;
  constexpr int kPitch = Tr::kPitch, kPitchV = Tr::kPitchV, kPitchP = Tr::kPitchP;
  constexpr int kThreads = Tr::kThreads;
  constexpr int kSMT = Tr::kSMT, kSNT = Tr::kSNT;
  constexpr int kKvMT = Tr::kKvMT, kKvNT = Tr::kKvNT, kVNT = Tr::kVNT;
  constexpr int kQMT = Tr::kQMT, kQNT = Tr::kQNT;

  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* s_k = reinterpret_cast<T*>(smem_raw);    // [kBlockN][kPitch] keys x d
  T* s_v = s_k + Tr::kSmemK;                  // [kBlockN][kPitchV] keys x dv
  T* s_q = s_v + Tr::kSmemV;                  // [kStages][kBlockM][kPitch] q rows x d
  T* s_do = s_q + Tr::kStages * Tr::kSmemQ;   // [kStages][kBlockM][kPitchV] q rows x dv
  T* s_p = s_do + Tr::kStages * Tr::kSmemDo;  // [kBlockM][kPitchP] q rows x keys
  T* s_ds = s_p + Tr::kSmemP;                 // [kBlockM][kPitchP] q rows x keys
  float* s_lse = reinterpret_cast<float*>(s_ds + Tr::kSmemDs);  // [kStages][kBlockM] lse
  float* s_dsum = s_lse + Tr::kStages * kBM;                    // [kStages][kBlockM] D
  const uint32_t a_k = ptx::cvta_to_shared(s_k), a_v = ptx::cvta_to_shared(s_v);
  const uint32_t a_q0 = ptx::cvta_to_shared(s_q), a_do0 = ptx::cvta_to_shared(s_do);
  const uint32_t a_p = ptx::cvta_to_shared(s_p), a_ds = ptx::cvta_to_shared(s_ds);
  constexpr uint32_t kStageBytesQ = Tr::kSmemQ * 2, kStageBytesDo = Tr::kSmemDo * 2;

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  // Warp positions in the three warp grids (traits.cuh).
  const int s_r = (warp / Tr::kSWarpsN) * 16 * kSMT, s_c = (warp % Tr::kSWarpsN) * 8 * kSNT;
  const int kv_r = (warp / Tr::kKvWarpsN) * 16 * kKvMT, kv_c = (warp % Tr::kKvWarpsN) * 8 * kKvNT;
  const int kv_cv = (warp % Tr::kKvWarpsN) * 8 * kVNT;  // dV's columns
  const int q_r = (warp / Tr::kQWarpsN) * 16 * kQMT, q_c = (warp % Tr::kQWarpsN) * 8 * kQNT;
  // NOTE: item-major order (heads innermost): the longest items of every head start first.
  // Above head dim 128 (Tr::kPasses > 1) each (item, head) has kPasses CTAs, one per kBlockN
  // keys of the item; a pass past the item's keys has nothing to do.
  const unsigned tile = Tr::kPasses == 1 ? blockIdx.x : blockIdx.x / Tr::kPasses;
  const int pass = Tr::kPasses == 1 ? 0 : static_cast<int>(blockIdx.x % Tr::kPasses);
  const int head = tile % p.num_heads_q;
  const FfaWorkItem item = p.items[tile / p.num_heads_q];
  if (Tr::kPasses > 1 && item.block_start + pass * kBN >= item.block_end) return;
  const int kv_head = head / p.heads_per_kv;
  const T* q = static_cast<const T*>(p.q) + head * p.q_head_stride;
  const T* dout = static_cast<const T*>(p.dout) + head * p.do_head_stride;
  const T* k = static_cast<const T*>(p.k) + kv_head * p.k_head_stride;
  const T* v = static_cast<const T*>(p.v) + kv_head * p.v_head_stride;
  const int c0 = item.block_start + pass * kBN;
  int key_end = c0;  // end of the keys any segment of the item covers (dK / dV rows to add)
  for (int si = item.seg_begin; si < item.seg_end; ++si) key_end = max(key_end, p.segs[si].k1);
  const ScoreTransform score{p.scale_log2, p.scale_cap, p.softcap_log2, p.use_softcap != 0};

  load_tile_async<kBN, kD, kPitch, kThreads>(a_k, k, p.k_row_stride, c0, key_end, tid);
  load_tile_async<kBN, kDv, kPitchV, kThreads>(a_v, v, p.v_row_stride, c0, key_end, tid);
  ptx::cp_async_commit_group();

  float dk[kKvMT][kKvNT][4];  // dK: (16 kKvMT keys) x (8 kKvNT d), fp32
  float dv[kKvMT][kVNT][4];   // dV: (16 kKvMT keys) x (8 kVNT dv), fp32
  zero_acc(dk);
  zero_acc(dv);

  if (item.seg_begin < item.seg_end) {
    QTileCursor cur{item.seg_begin, p.segs[item.seg_begin].q0, p.segs[item.seg_begin].q1};
    int stage = 0;
    const uint32_t a_lse0 = ptx::cvta_to_shared(s_lse), a_dsum0 = ptx::cvta_to_shared(s_dsum);
    load_q_tile<Tr>(p, cur, head, q, dout, a_q0, a_do0, a_lse0, a_dsum0, tid);
    while (true) {
      __syncthreads();  // every warp is done with the previous tile (other stage, P, dS)
      QTileCursor next = cur;
      const bool has_next = next_q_tile<Tr>(p, item, next);
      if (has_next) {
        const int ns = stage ^ 1;
        load_q_tile<Tr>(p, next, head, q, dout, a_q0 + ns * kStageBytesQ,
                        a_do0 + ns * kStageBytesDo, a_lse0 + ns * kBM * 4, a_dsum0 + ns * kBM * 4,
                        tid);
        ptx::cp_async_wait_group<1>();
      } else {
        ptx::cp_async_wait_group<0>();
      }
      __syncthreads();  // this stage's Q, dO, lse, D (and K, V) are visible
      const uint32_t a_q = a_q0 + stage * kStageBytesQ, a_do = a_do0 + stage * kStageBytesDo;
      const float* lse_st = s_lse + stage * kBM;
      const float* dsum_st = s_dsum + stage * kBM;

      uint16_t* sp16 = reinterpret_cast<uint16_t*>(s_p);
      uint16_t* sds16 = reinterpret_cast<uint16_t*>(s_ds);
      if (MAGI_FFA_BWD_WARP_SKIP &&
          SegmentMask::load(p.segs + cur.seg)
              .tile_is_empty(cur.qb0 + s_r, 16 * kSMT, c0 + s_c, 8 * kSNT)) {
        // NOTE: no cell in this warp's part of the tile: P = dS = 0 without the two GEMMs.
        store_zero_tile<kSMT, kSNT, kPitchP>(sp16, s_r, s_c, lane);
        store_zero_tile<kSMT, kSNT, kPitchP>(sds16, s_r, s_c, lane);
      } else {
        float s[kSMT][kSNT][4];   // S: (16 kSMT q rows) x (8 kSNT keys)
        float dp[kSMT][kSNT][4];  // dP: same tile
        zero_acc(s);
        zero_acc(dp);
        if constexpr (MAGI_FFA_BWD_DUAL && kD == kDv) {
          warp_gemm_ss_x2<E, kSMT, kSNT, kD, ALayout::kMK, BLayout::kNK>(
              s, dp, a_q, a_do, kPitch, s_r, a_k, a_v, kPitch, s_c, lane);
        } else {
          warp_gemm_ss<E, kSMT, kSNT, kD, ALayout::kMK, BLayout::kNK>(s, a_q, kPitch, s_r, 0, a_k,
                                                                      kPitch, s_c, 0, lane);
          warp_gemm_ss<E, kSMT, kSNT, kDv, ALayout::kMK, BLayout::kNK>(dp, a_do, kPitchV, s_r, 0,
                                                                       a_v, kPitchV, s_c, 0, lane);
        }
        const SegmentMask mask = SegmentMask::load(p.segs + cur.seg);
        probs_and_dscores<E, kSMT, kSNT, kPitchP, kCap == Softcap::kOn>(
            s, dp, score, mask, cur.qb0, c0, s_r, s_c, lse_st, dsum_st, sp16, sds16, lane);
      }
      __syncthreads();  // P and dS complete

      // dV += P^T dO, dK += dS^T Q: rows = keys, cols = d, k = q rows.
      if constexpr (MAGI_FFA_BWD_DUAL >= 2 && kD == kDv) {
        warp_gemm_ss_x2<E, kKvMT, kKvNT, kBM, ALayout::kKM, BLayout::kKN>(
            dv, dk, a_p, a_ds, kPitchP, kv_r, a_do, a_q, kPitch, kv_c, lane);
      } else {
        warp_gemm_ss<E, kKvMT, kVNT, kBM, ALayout::kKM, BLayout::kKN>(
            dv, a_p, kPitchP, kv_r, 0, a_do, kPitchV, kv_cv, 0, lane);
        warp_gemm_ss<E, kKvMT, kKvNT, kBM, ALayout::kKM, BLayout::kKN>(dk, a_ds, kPitchP, kv_r, 0,
                                                                       a_q, kPitch, kv_c, 0, lane);
      }
      // dQ = dS K: rows = q, cols = d, k = keys.
      float dq[kQMT][kQNT][4];  // (16 kQMT q rows) x (8 kQNT d)
      zero_acc(dq);
      warp_gemm_ss<E, kQMT, kQNT, kBN, ALayout::kMK, BLayout::kKN>(dq, a_ds, kPitchP, q_r, 0, a_k,
                                                                   kPitch, q_c, 0, lane);
      red_add_tile(p.dq + head * p.dq_head_stride, p.dq_row_stride, cur.qb0 + q_r, cur.q1, q_c, dq,
                   p.scale, lane);
      if (!has_next) break;
      cur = next;
      stage ^= 1;
    }
  }
  ptx::cp_async_wait_group<0>();
  red_add_tile(p.dk + kv_head * p.dk_head_stride, p.dk_row_stride, c0 + kv_r, key_end, kv_c, dk,
               p.scale, lane);
  red_add_tile(p.dv + kv_head * p.dv_head_stride, p.dv_row_stride, c0 + kv_r, key_end, kv_cv, dv,
               1.f, lane);
}

}  // namespace magi::cuda
