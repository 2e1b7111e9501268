// Mask: which cells of a (rows x keys) tile belong to a segment (params.h).
#pragma once

#include "kernels/cuda/ffa/params.h"

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

}  // namespace magi::cuda
