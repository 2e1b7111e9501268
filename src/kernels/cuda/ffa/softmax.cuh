// Online softmax over the rows a thread holds in mma accumulator layout (log2 units).
#pragma once

#include <cmath>

#include "kernels/cuda/ptx/math.cuh"

// NOTE: development knob: every N-th probability of a row (N > 0) is computed by exp2_fma
// instead of the special-function unit, which the softmax of narrow heads saturates (see
// bench/NOTES.md); 0, the default, leaves every exponential to ex2.approx.
#ifndef MAGI_FFA_EXP2_POLY_EVERY
#define MAGI_FFA_EXP2_POLY_EVERY 0
#endif

// NOTE: development knob (bench/NOTES.md v49): 1 gives update_scores() a fast path for tiles
// that leave every row's reference where it is (update_scores_settled); 2 the same, with the
// tile's max taken over the exponents' arguments (each FMNMX after its FFMA); 0 keeps one path.
#ifndef MAGI_FFA_SOFTMAX_SETTLED
#define MAGI_FFA_SOFTMAX_SETTLED 0
#endif

namespace magi::cuda {

/// 2^x on the FMA and integer pipes: x = n + f with n = round(x), f in [-1/2, 1/2]; 2^f by its
/// degree-5 Taylor polynomial (relative error < 4e-6), 2^n added into the exponent bits.
/// x <= -127 gives 0 or a denormal (as ex2.approx.ftz gives 0); NaN stays NaN; x < 128.
__device__ __forceinline__ float exp2_fma(float x) {
  constexpr float kRound = 12582912.f;  // 1.5 * 2^23: adding it rounds to an integer
  const float xc = x < -127.f ? -127.f : x;
  const float t = xc + kRound;
  const float n = t - kRound;
  const float f = xc - n;
  float p = 1.3333558e-3f;
  p = fmaf(p, f, 9.6181291e-3f);
  p = fmaf(p, f, 5.5504109e-2f);
  p = fmaf(p, f, 2.4022651e-1f);
  p = fmaf(p, f, 6.9314718e-1f);
  p = fmaf(p, f, 1.f);
  const int shift = (__float_as_int(t) - __float_as_int(kRound)) << 23;
  const float y = __int_as_float(__float_as_int(p) + shift);
  return x != x ? x : y;
}

/// Rows per thread: kMT m-tiles x 2 (g and g + 8). Row sums stay thread-partial until
/// finalize(); the row max is reduced over the quad (the 4 lanes sharing a row) at each step.
/// Scores stay in their own units (raw q.k, or softcapped log2 units); `scale` maps them to
/// log2 units inside the exponent (one FFMA per cell).
template <int kMT>
struct OnlineSoftmax {
  float row_max[kMT][2];  // reference max of the scores (score units), -inf before any cell
  float row_sum[kMT][2];  // thread-partial sum of 2^(score - row_max)

  __device__ __forceinline__ void init() {
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
      for (int hi = 0; hi < 2; ++hi) {
        row_max[mt][hi] = -INFINITY;
        row_sum[mt][hi] = 0.f;
      }
  }

  /// This thread's max of row (mt, hi)'s cells in one key tile.
  /// NOTE: kChains independent chains: a single chain over the tile's 2 kNT cells is a latency
  /// chain on the warpgroup's critical path between two products.
  template <int kNT>
  __device__ __forceinline__ static float thread_row_max(const float (&s)[kMT][kNT][4], int mt,
                                                         int hi) {
    constexpr int kChains = kNT >= 8 ? 4 : 1;
    float part[kChains];
#pragma unroll
    for (int c = 0; c < kChains; ++c) part[c] = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < kNT; ++nt) {
      part[nt % kChains] =
          fmaxf(part[nt % kChains], fmaxf(s[mt][nt][2 * hi], s[mt][nt][2 * hi + 1]));
    }
    float m = part[0];
#pragma unroll
    for (int c = 1; c < kChains; ++c) m = fmaxf(m, part[c]);
    return m;
  }

  /// s: scores of one key tile in units where 2^(scale * s) is the softmax weight (masked
  /// cells -inf), replaced by their probabilities 2^(scale (s - ref)); o: output accumulators.
  /// The reference `row_max` only moves when the tile's max exceeds it by more than `slack`
  /// (log2 units; FwdParams::rescale_slack, 8 unless the exact row max is wanted): weights
  /// stay <= 2^slack, exact after normalisation, and the O rescale (the costliest part) runs
  /// only on the tiles that move it. With slack 0, row_max is the exact maximum of the scores.
  template <int kNT, int kNO>
  __device__ __forceinline__ void update(float (&s)[kMT][kNT][4], float (&o)[kMT][kNO][4],
                                         float scale, float slack) {
    float alpha[kMT][2];
    if (update_scores(s, alpha, scale, slack)) rescale(o, alpha);
  }

  /// The first half of update(): probabilities and row sums, without touching O (which an
  /// asynchronous P V product may still be writing). Returns whether the warp must rescale O
  /// by `alpha` (the same answer in every lane).
  template <int kNT>
  __device__ __forceinline__ bool update_scores(float (&s)[kMT][kNT][4], float (&alpha)[kMT][2],
                                                float scale, float slack) {
    if constexpr (MAGI_FFA_SOFTMAX_SETTLED != 0) {
      return update_scores_settled(s, alpha, scale, slack);
    }
    constexpr int kChains = kNT >= 8 ? 4 : 1;
    bool any_rescale = false;
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
      for (int hi = 0; hi < 2; ++hi) {
        float mx = thread_row_max(s, mt, hi);
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float ref = row_max[mt][hi];
        const bool move = mx != -INFINITY && (ref == -INFINITY || (mx - ref) * scale > slack);
        alpha[mt][hi] = 1.f;
        if (move) {
          // NOTE: ref = -inf gives alpha = 2^-inf = 0 (o and the sum are still 0 then).
          alpha[mt][hi] = ptx::ex2_approx_ftz((ref - mx) * scale);
          row_max[mt][hi] = mx;
          any_rescale = true;
        }
        // A row without any cell so far keeps ref -inf: subtract 0 so -inf cells give 0.
        const float ref_scaled = row_max[mt][hi] == -INFINITY ? 0.f : row_max[mt][hi] * scale;
        float part[kChains];  // independent sum chains, as thread_row_max's
#pragma unroll
        for (int c = 0; c < kChains; ++c) part[c] = 0.f;
#pragma unroll
        for (int nt = 0; nt < kNT; ++nt) {
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const float arg = fmaf(s[mt][nt][2 * hi + e], scale, -ref_scaled);
            constexpr int kEvery = MAGI_FFA_EXP2_POLY_EVERY;
            const float pv = kEvery > 0 && (2 * nt + e) % (kEvery > 0 ? kEvery : 1) == 0
                                 ? exp2_fma(arg)
                                 : ptx::ex2_approx_ftz(arg);
            s[mt][nt][2 * hi + e] = pv;
            part[nt % kChains] += pv;
          }
        }
        float rs = part[0];
#pragma unroll
        for (int c = 1; c < kChains; ++c) rs += part[c];
        row_sum[mt][hi] = row_sum[mt][hi] * alpha[mt][hi] + rs;
      }
    }
    return __any_sync(0xffffffffu, any_rescale);
  }

  /// update_scores() for the common tile, whose cells leave every row's reference in place
  /// (no cell above it by more than `slack`: after a row's first tiles, nearly every tile).
  /// The exact path waits for the row max over the quad (two shuffles) before it can start a
  /// single exponent, and the exponents' arguments wait for the decision to move the
  /// reference; here each thread's own max (no shuffle) and the arguments against the current
  /// reference are computed side by side (ALU and FMA pipes), one vote tells whether every
  /// row of the warp keeps its reference, and only if not do the shuffles and the move run,
  /// shifting the arguments already computed. Same results as the exact path up to one
  /// rounding of the shifted arguments.
  template <int kNT>
  __device__ __forceinline__ bool update_scores_settled(float (&s)[kMT][kNT][4],
                                                        float (&alpha)[kMT][2], float scale,
                                                        float slack) {
    constexpr int kChains = kNT >= 8 ? 4 : 1;
    constexpr bool kArgMax = MAGI_FFA_SOFTMAX_SETTLED == 2;
    // How far (log2 units) a tile's max m lies above the row's reference ref; kArgMax's m is
    // taken over the arguments, already relative to it.
    const auto excess = [scale](float m, float ref) { return kArgMax ? m : (m - ref) * scale; };
    float mx[kMT][2];     // this thread's max of the tile's cells, per row
    float shift[kMT][2];  // the reference (log2 units) the arguments are taken against
    bool settled = true;  // no row of this thread moves its reference
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
      for (int hi = 0; hi < 2; ++hi) {
        const float ref = row_max[mt][hi];
        shift[mt][hi] = ref == -INFINITY ? 0.f : ref * scale;
        // kArgMax: the max over the arguments, each FMNMX after its FFMA (the two pipes paired).
        if constexpr (!kArgMax) mx[mt][hi] = thread_row_max(s, mt, hi);
#pragma unroll
        for (int nt = 0; nt < kNT; ++nt) {
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            s[mt][nt][2 * hi + e] = fmaf(s[mt][nt][2 * hi + e], scale, -shift[mt][hi]);
          }
        }
        if constexpr (kArgMax) mx[mt][hi] = thread_row_max(s, mt, hi);
        // A row without cells so far settles only on a tile without cells (m = -inf: the
        // excess is NaN, not above the slack).
        const float m = mx[mt][hi];
        settled = settled && (ref != -INFINITY || m == -INFINITY) && !(excess(m, ref) > slack);
      }
    }
    bool any_rescale = false;
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt) alpha[mt][0] = alpha[mt][1] = 1.f;
    if (!__all_sync(0xffffffffu, settled)) {
      // The exact path's decision on the quad's max; rows that move shift their arguments.
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
        for (int hi = 0; hi < 2; ++hi) {
          float m = mx[mt][hi];
          m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 1));
          m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 2));
          const float ref = row_max[mt][hi];
          if (m != -INFINITY && (ref == -INFINITY || excess(m, ref) > slack)) {
            alpha[mt][hi] = ptx::ex2_approx_ftz(kArgMax ? (ref == -INFINITY ? -INFINITY : -m)
                                                        : (ref - m) * scale);
            // kArgMax: the new reference, in score units, is the quad's max up to the
            // rounding of (shift + m) / scale.
            row_max[mt][hi] = kArgMax ? (shift[mt][hi] + m) / scale : m;
            any_rescale = true;
            const float by = kArgMax ? m : m * scale - shift[mt][hi];
#pragma unroll
            for (int nt = 0; nt < kNT; ++nt) {
              s[mt][nt][2 * hi] -= by;
              s[mt][nt][2 * hi + 1] -= by;
            }
          }
        }
      }
      any_rescale = __any_sync(0xffffffffu, any_rescale);
    }
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
      for (int hi = 0; hi < 2; ++hi) {
        float part[kChains];  // independent sum chains, as thread_row_max's
#pragma unroll
        for (int c = 0; c < kChains; ++c) part[c] = 0.f;
#pragma unroll
        for (int nt = 0; nt < kNT; ++nt) {
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const float pv = ptx::ex2_approx_ftz(s[mt][nt][2 * hi + e]);
            s[mt][nt][2 * hi + e] = pv;
            part[nt % kChains] += pv;
          }
        }
        float rs = part[0];
#pragma unroll
        for (int c = 1; c < kChains; ++c) rs += part[c];
        row_sum[mt][hi] = row_sum[mt][hi] * alpha[mt][hi] + rs;
      }
    }
    return any_rescale;
  }

  /// The second half of update(): O *= alpha, row by row.
  template <int kNO>
  __device__ __forceinline__ void rescale(float (&o)[kMT][kNO][4], const float (&alpha)[kMT][2]) {
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
      for (int nt = 0; nt < kNO; ++nt) {
        o[mt][nt][0] *= alpha[mt][0];
        o[mt][nt][1] *= alpha[mt][0];
        o[mt][nt][2] *= alpha[mt][1];
        o[mt][nt][3] *= alpha[mt][1];
      }
  }

  /// Reduces the row sums over the quad.
  __device__ __forceinline__ void finalize() {
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
      for (int hi = 0; hi < 2; ++hi) {
        float l = row_sum[mt][hi];
        l += __shfl_xor_sync(0xffffffffu, l, 1);
        l += __shfl_xor_sync(0xffffffffu, l, 2);
        row_sum[mt][hi] = l;
      }
  }
};

}  // namespace magi::cuda
