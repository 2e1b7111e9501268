// Host side of TMA: tensor maps (CUtensorMap) for the Hopper kernels. The driver's encoder is
// resolved lazily through the runtime, so nothing links libcuda.
#pragma once

#include <cuda.h>

#include <cstdint>

namespace magi::cuda::sm90 {

/// A 3-D strided view of 16-bit elements, innermost dimension first (stride 1 element).
struct TmaView3d {
  const void* base;
  uint64_t extent[3];        // elements per dimension
  uint64_t stride_bytes[2];  // strides of dimensions 1 and 2
};

/// A tensor map over `view` with boxes of `box` elements (innermost first) and 128-byte
/// swizzle (the layout of smem_tile.cuh); out-of-range elements load as zeros. Throws
/// magi::Error when the view breaks a TMA rule (16-byte aligned base and strides, an inner
/// box of at most 128 bytes, boxes of at most 256 per dimension).
CUtensorMap make_tma_desc(const TmaView3d& view, const uint32_t (&box)[3]);

}  // namespace magi::cuda::sm90
