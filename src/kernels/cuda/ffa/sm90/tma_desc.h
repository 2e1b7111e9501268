// Host side of TMA: tensor maps (CUtensorMap) for the Hopper kernels. The driver's encoder is
// resolved lazily through the runtime, so nothing links libcuda.
#pragma once

#include <cuda.h>

#include <cstdint>

namespace magi::cuda::sm90 {

enum class TmaElem { k16Bit, kFp32 };
enum class TmaSwizzle { kNone, k128B };

/// A 3-D strided view, innermost dimension first (stride 1 element).
struct TmaView3d {
  const void* base;
  uint64_t extent[3];        // elements per dimension
  uint64_t stride_bytes[2];  // strides of dimensions 1 and 2
  TmaElem elem = TmaElem::k16Bit;
};

/// A tensor map over `view` with boxes of `box` elements (innermost first); out-of-range
/// elements load as zeros. A load's box must start 16-byte aligned in the innermost dimension
/// and land on a 128-byte-aligned shared address (the caller's coordinates and buffers). k128B is
/// the layout of smem_tile.cuh. Throws magi::Error when the view breaks a TMA rule (16-byte aligned
/// base and strides, an inner box of a multiple of 16 bytes and at most 128 of them when swizzled,
/// boxes of at most 256 per dimension).
CUtensorMap make_tma_desc(const TmaView3d& view, const uint32_t (&box)[3],
                          TmaSwizzle swizzle = TmaSwizzle::k128B);

}  // namespace magi::cuda::sm90
