// Online softmax over the rows a thread holds in mma accumulator layout (log2 units).
#pragma once

#include <cmath>

#include "kernels/cuda/ffa/config.h"
#include "kernels/cuda/ptx/math.cuh"

namespace magi::cuda {

/// OnlineSoftmax's tracked maxima (TrackMax::kOn): none without tracking (an empty base, so the
/// untracked softmax and its code are those of before).
template <int kMT, TrackMax kTrack>
struct RowTops {};
template <int kMT>
struct RowTops<kMT, TrackMax::kOn> {
  float row_top[kMT][2];  // this thread's max of its cells (log2 units), -inf before any cell
};

/// Rows per thread: kMT m-tiles x 2 (g and g + 8). Row sums stay thread-partial until
/// finalize(); the row max is reduced over the quad (the 4 lanes sharing a row) at each step.
/// Scores stay in their own units (raw q.k, or softcapped log2 units); `scale` maps them to
/// log2 units inside the exponent (one FFMA per cell).
template <int kMT, TrackMax kTrack = TrackMax::kOff>
struct OnlineSoftmax : RowTops<kMT, kTrack> {
  static constexpr bool kTracked = kTrack == TrackMax::kOn;
  float row_max[kMT][2];  // reference max of the scores (score units), -inf before any cell
  float row_sum[kMT][2];  // thread-partial sum of 2^(score - row_max)

  __device__ __forceinline__ void init() {
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
      for (int hi = 0; hi < 2; ++hi) {
        row_max[mt][hi] = -INFINITY;
        row_sum[mt][hi] = 0.f;
        if constexpr (kTracked) this->row_top[mt][hi] = -INFINITY;
      }
  }

  /// Row (mt, hi)'s maximum score in log2 units: this thread's tracked one, or the reference
  /// (the row's, where the slack is 0); `scale` maps scores to log2 units.
  __device__ __forceinline__ float top(int mt, int hi, float scale) const {
    if constexpr (kTracked) {
      return this->row_top[mt][hi];
    } else {
      return row_max[mt][hi] * scale;
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
  /// (log2 units; FwdParams::rescale_slack: 8, or 0 where max_logits wants the row max): weights
  /// stay <= 2^slack, exact after normalisation, and the O rescale (the costliest part) runs
  /// only on the tiles that move it. With slack 0, row_max is the maximum of the scores (up to
  /// the rounding update_scores() names).
  template <int kNT, int kNO>
  __device__ __forceinline__ void update(float (&s)[kMT][kNT][4], float (&o)[kMT][kNO][4],
                                         float scale, float slack) {
    float alpha[kMT][2];
    if (update_scores(s, alpha, scale, slack)) rescale(o, alpha);
  }

  /// The first half of update(): probabilities and row sums, without touching O (which an
  /// asynchronous P V product may still be writing). Returns whether the warp must rescale O
  /// by `alpha` (the same answer in every lane).
  ///
  /// Built for the common tile, whose cells leave every row's reference in place (none above
  /// it by more than `slack`: after a row's first tiles, nearly every tile). Waiting for the
  /// row max over the quad (two shuffles) before the first exponent, and for the decision to
  /// move the reference before the first argument, puts both on the warpgroup's critical path
  /// between two products. Instead each thread takes the exponents' arguments against the
  /// current reference and its own max over them (each FMNMX after its FFMA: the FMA and ALU
  /// pipes side by side), one vote tells whether every row of the warp keeps its reference,
  /// and only if not do the shuffles and the move run, shifting the arguments already taken
  /// (bench/NOTES.md v49-v51).
  /// A moved row's reference is the quad's max over the arguments plus the old reference,
  /// back in score units: the maximum of the scores up to the rounding of that sum and
  /// quotient (a few float ulps of the scores' magnitude, also with slack 0).
  /// Tracked (TrackMax::kOn), row_top follows this thread's max of its cells (log2 units, the
  /// same rounding) at any slack: max_logits then needs no slack 0, for two instructions a row
  /// and tile.
  template <int kNT>
  __device__ __forceinline__ bool update_scores(float (&s)[kMT][kNT][4], float (&alpha)[kMT][2],
                                                float scale, float slack) {
    constexpr int kChains = kNT >= 8 ? 4 : 1;
    float shift[kMT][2];  // the reference (log2 units) the arguments are taken against
    float mx[kMT][2];     // this thread's max of the tile's arguments, per row
    bool settled = true;  // no row of this thread moves its reference
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
      for (int hi = 0; hi < 2; ++hi) {
        const float ref = row_max[mt][hi];
        shift[mt][hi] = ref == -INFINITY ? 0.f : ref * scale;
#pragma unroll
        for (int nt = 0; nt < kNT; ++nt) {
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            s[mt][nt][2 * hi + e] = fmaf(s[mt][nt][2 * hi + e], scale, -shift[mt][hi]);
          }
        }
        // How far (log2 units) the tile's max lies above the reference. A row without cells
        // so far settles only on a tile without cells (m = -inf).
        const float m = mx[mt][hi] = thread_row_max(s, mt, hi);
        settled = settled && (ref != -INFINITY || m == -INFINITY) && !(m > slack);
        if constexpr (kTracked) {
          this->row_top[mt][hi] = fmaxf(this->row_top[mt][hi], m + shift[mt][hi]);
        }
      }
    }
    bool any_rescale = false;
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt) alpha[mt][0] = alpha[mt][1] = 1.f;
    if (!__all_sync(0xffffffffu, settled)) {
      // The decision on the quad's max; rows that move shift their arguments.
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
        for (int hi = 0; hi < 2; ++hi) {
          float m = mx[mt][hi];
          m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 1));
          m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 2));
          const float ref = row_max[mt][hi];
          if (m != -INFINITY && (ref == -INFINITY || m > slack)) {
            // NOTE: ref = -inf gives alpha = 0 (O and the sum are still 0 then).
            alpha[mt][hi] = ptx::ex2_approx_ftz(ref == -INFINITY ? -INFINITY : -m);
            row_max[mt][hi] = (shift[mt][hi] + m) / scale;
            any_rescale = true;
#pragma unroll
            for (int nt = 0; nt < kNT; ++nt) {
              s[mt][nt][2 * hi] -= m;
              s[mt][nt][2 * hi + 1] -= m;
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

  /// update_scores() with the reference checked after the exponentials, by the row sums, where
  /// every row of the warp has one (not the first tile of its rows) and the slack is at least
  /// kSummedMinSlack: 2^(argument) straight after each argument's FFMA, and the reference kept
  /// if no thread's partial row sum exceeds 2^slack (which bounds each of its cells as the max
  /// would). No max over the cells then stands between the S product and the first exponent.
  /// Where some thread's sum does exceed it (scores that rise along the row; the sums' check is
  /// stricter than the max's, so this comes every tile on such rows), the warp takes the quad's
  /// max of the probabilities, and a row whose max P passes 2^slack moves its reference up by
  /// log2(max P): its cells, partial sum and alpha are 1 / max P (two MUFU a row, not a
  /// second exponent a cell: the first form of this path, the arguments back by lg2 and then
  /// update_scores()'s way, ran 0.66-0.78x the max-first softmax on such rows, bench/NOTES.md
  /// v66; an integer move, 2^-floor(log2 max P), left the max cell in [1, 2) where bf16 P
  /// rounds it by up to 2^-8, failing a row that one key dominates, v67).
  /// A tile whose sums passed 2^126 (a cell 126 log2 units above the reference, where 1 / P
  /// would be subnormal, or whose exponentials overflowed: the arguments are lost) takes its
  /// scores again from `rescore(s)` (raw scores, transformed and masked, as they came in) and
  /// runs update_scores(), the same call as fresh rows' (one copy of that code: bench/NOTES.md
  /// v67).
  /// Tracked (TrackMax::kOn), row_top follows each thread's max of its arguments, taken beside
  /// the exponents rather than before them.
  static constexpr float kSummedMinSlack = 4.f;
  template <int kNT, class Rescore>
  __device__ __forceinline__ bool update_scores_summed(float (&s)[kMT][kNT][4],
                                                       float (&alpha)[kMT][2], float scale,
                                                       float slack, Rescore&& rescore) {
    bool fresh = false;
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt)
      fresh = fresh || row_max[mt][0] == -INFINITY || row_max[mt][1] == -INFINITY;
    if (slack >= kSummedMinSlack && !__any_sync(0xffffffffu, fresh)) {
      bool lost = false;
      const bool moved = summed_tile(s, alpha, scale, slack, lost);
      if (!lost) return moved;
      rescore(s);
    }
    return update_scores(s, alpha, scale, slack);
  }

  /// update_scores_summed()'s own way on a tile whose rows all have a reference: whether O must
  /// be rescaled by alpha. `lost`: some sum passed 2^126 (s then holds nothing of use, the
  /// statistics are as they came: the caller takes the scores again).
  template <int kNT>
  __device__ __forceinline__ bool summed_tile(float (&s)[kMT][kNT][4], float (&alpha)[kMT][2],
                                              float scale, float slack, bool& lost) {
    constexpr int kChains = kNT >= 8 ? 4 : 1;
    const float cap = ptx::ex2_approx_ftz(slack);
    float shift[kMT][2], rs[kMT][2];
    bool settled = true;
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
      for (int hi = 0; hi < 2; ++hi) {
        shift[mt][hi] = row_max[mt][hi] * scale;
        float part[kChains], top[kChains];  // top: tracked, the arguments' max (per chain)
#pragma unroll
        for (int c = 0; c < kChains; ++c) part[c] = 0.f, top[c] = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < kNT; ++nt) {
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            float& x = s[mt][nt][2 * hi + e];
            const float arg = fmaf(x, scale, -shift[mt][hi]);
            // Tracked, the max beside the exponents, not before them: no wait on it.
            if constexpr (kTracked) top[nt % kChains] = fmaxf(top[nt % kChains], arg);
            x = ptx::ex2_approx_ftz(arg);
            part[nt % kChains] += x;
          }
        }
        rs[mt][hi] = part[0];
#pragma unroll
        for (int c = 1; c < kChains; ++c) rs[mt][hi] += part[c];
        if constexpr (kTracked) {
          // As update_scores(): this thread's max of its cells, in log2 units.
#pragma unroll
          for (int c = 1; c < kChains; ++c) top[0] = fmaxf(top[0], top[c]);
          this->row_top[mt][hi] = fmaxf(this->row_top[mt][hi], top[0] + shift[mt][hi]);
        }
        // NOTE: a NaN sum (a NaN score) keeps the reference, as a NaN max does below.
        settled = settled && !(rs[mt][hi] > cap);
      }
    }
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt) alpha[mt][0] = alpha[mt][1] = 1.f;
    if (__all_sync(0xffffffffu, settled)) {
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt) {
        row_sum[mt][0] += rs[mt][0];
        row_sum[mt][1] += rs[mt][1];
      }
      return false;
    }
    bool overflow = false;
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt) {
      overflow = overflow || rs[mt][0] > 0x1p126f || rs[mt][1] > 0x1p126f;
    }
    lost = __any_sync(0xffffffffu, overflow);
    if (lost) return false;
    bool moved = false;
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
      for (int hi = 0; hi < 2; ++hi) {
        float mp = thread_row_max(s, mt, hi);
        mp = fmaxf(mp, __shfl_xor_sync(0xffffffffu, mp, 1));
        mp = fmaxf(mp, __shfl_xor_sync(0xffffffffu, mp, 2));
        if (mp > cap) {
          // mp <= 2^126 (no overflow above): 1 / mp is a normal float. The row's max cell
          // becomes 1 within 2 float ulps, so exactly 1 in P's 16 bits, as the max-first way's
          // 2^0: a row that one key dominates keeps that key's weight exact.
          const float down = ptx::rcp_approx_ftz(mp);
          alpha[mt][hi] = down;
          row_max[mt][hi] = (shift[mt][hi] + ptx::lg2_approx_ftz(mp)) / scale;
          rs[mt][hi] *= down;
#pragma unroll
          for (int nt = 0; nt < kNT; ++nt) {
            s[mt][nt][2 * hi] *= down;
            s[mt][nt][2 * hi + 1] *= down;
          }
          moved = true;
        }
        row_sum[mt][hi] = row_sum[mt][hi] * alpha[mt][hi] + rs[mt][hi];
      }
    }
    return __any_sync(0xffffffffu, moved);
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
