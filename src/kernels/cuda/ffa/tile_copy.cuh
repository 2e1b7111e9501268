// Global -> shared tile copies with cp.async (16 bytes per thread and step).
#pragma once

#include <cstdint>

#include "kernels/cuda/ptx/cp_async.cuh"

namespace magi::cuda {

/// Copies rows [row0, row0 + kRows) x kCols (16-bit elements) of a strided matrix into a
/// padded shared tile; rows >= row_limit are zero-filled (never read). `src` points at
/// element (0, 0) of the matrix (head already applied).
template <int kRows, int kCols, int kPitch, int kThreads, class T>
__device__ __forceinline__ void load_tile_async(uint32_t smem_base, const T* src,
                                                int64_t row_stride, int row0, int row_limit,
                                                int tid) {
  constexpr int kChunksPerRow = kCols / 8;
  constexpr int kChunks = kRows * kChunksPerRow;
  static_assert(kChunks % kThreads == 0);
#pragma unroll
  for (int i = 0; i < kChunks / kThreads; ++i) {
    const int c = tid + i * kThreads;
    const int r = c / kChunksPerRow;
    const int col = (c % kChunksPerRow) * 8;
    const int gr = row0 + r;
    const bool ok = gr < row_limit;
    const T* g = src + (ok ? static_cast<int64_t>(gr) * row_stride + col : 0);
    ptx::cp_async_cg_16(smem_base + static_cast<uint32_t>((r * kPitch + col) * 2), g, ok ? 16 : 0);
  }
}

}  // namespace magi::cuda
