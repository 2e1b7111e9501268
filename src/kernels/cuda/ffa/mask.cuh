// Mask: which cells of a (rows x keys) tile belong to a segment (params.h).
#pragma once

#include <cmath>

#include "kernels/cuda/ffa/params.h"
#include "kernels/cuda/ffa/score.cuh"

namespace magi::cuda {

struct SegmentMask {
  int q0, q1, k0, k1, dlo, dhi;

  __device__ __forceinline__ static SegmentMask load(const FfaSegment* s) {
    return {s->q0, s->q1, s->k0, s->k1, s->dlo, s->dhi};
  }
  /// True when every cell of rows [r0, r0 + rows) x keys [c0, c0 + cols) is in the segment,
  /// so the tile needs no per-cell masking.
  __device__ __forceinline__ bool tile_is_interior(int r0, int rows, int c0, int cols) const {
    return r0 >= q0 && r0 + rows <= q1 && c0 >= k0 && c0 + cols <= k1 &&
           c0 - (r0 + rows - 1) >= dlo && (c0 + cols - 1) - r0 < dhi;
  }
  /// True when no cell of rows [r0, r0 + rows) x keys [c0, c0 + cols) is in the segment
  /// (conservative: may answer false for an empty tile, never true for a non-empty one).
  __device__ __forceinline__ bool tile_is_empty(int r0, int rows, int c0, int cols) const {
    return r0 + rows <= q0 || r0 >= q1 || c0 + cols <= k0 || c0 >= k1 ||
           (c0 + cols - 1) - r0 < dlo || c0 - (r0 + rows - 1) >= dhi;
  }
  __device__ __forceinline__ bool contains(int r, int c) const {
    return r >= q0 && r < q1 && c >= k0 && c < k1 && c - r >= dlo && c - r < dhi;
  }
};

/// Scores of one tile: cells outside the segment -> -inf; with softcap, raw q.k -> log2 units
/// (without, the raw scores stay and the softmax applies scale_log2 inside its exponent).
template <int kMT, int kNS, bool kSoftcap>
__device__ __forceinline__ void transform_and_mask(float (&s)[kMT][kNS][4],
                                                   const ScoreTransform& score,
                                                   const SegmentMask& mask, int row0, int col0,
                                                   int rows, int cols, int lane) {
  if constexpr (kSoftcap) {
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
      for (int nt = 0; nt < kNS; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          s[mt][nt][e] = score.softcap_log2 * ptx::tanh_approx(s[mt][nt][e] * score.scale_cap);
        }
  }
  if (mask.tile_is_interior(row0, rows, col0, cols)) return;
  const int g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
    for (int hi = 0; hi < 2; ++hi) {
      // NOTE: one key interval per row, compared branch-free per cell (two compares and a
      // select): the row's keys are [max(k0, r + dlo), min(k1, r + dhi)), none outside the
      // segment's rows. Relative to col0 + 2 t, so each cell compares a compile-time column.
      const int row = row0 + 16 * mt + g + 8 * hi;
      const bool row_in = row >= mask.q0 && row < mask.q1;
      const int base = col0 + 2 * t;
      const int lo = max(mask.k0, row + mask.dlo) - base;
      const int end = row_in ? min(mask.k1, row + mask.dhi) - base : lo;
#pragma unroll
      for (int nt = 0; nt < kNS; ++nt)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int c = 8 * nt + e;
          float& x = s[mt][nt][2 * hi + e];
          x = (c >= lo && c < end) ? x : -INFINITY;
        }
    }
}

}  // namespace magi::cuda
