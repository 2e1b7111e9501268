// SmemDesc: a wgmma shared-memory matrix descriptor (PTX ISA §asynchronous warpgroup level
// matrix shared memory layout, matrix descriptor), built once per tile and advanced by adding
// byte offsets to its start-address field.
#pragma once

#include <cstdint>

namespace magi::cuda::sm90 {

/// 128-byte swizzle only (the layout of every tile here, see smem_tile.cuh): start address,
/// leading- and stride-dimension byte offsets (16-byte units), swizzle mode 1 in bits 62-63.
/// The swizzle pattern repeats every 1024 bytes and tiles are 1024-byte aligned (base offset 0).
struct SmemDesc {
  uint64_t bits;

  __host__ __device__ static constexpr SmemDesc sw128(uint32_t smem_addr, uint32_t lbo_bytes,
                                                      uint32_t sbo_bytes) {
    return {static_cast<uint64_t>((smem_addr & 0x3FFFF) >> 4) |
            static_cast<uint64_t>((lbo_bytes >> 4) & 0x3FFF) << 16 |
            static_cast<uint64_t>((sbo_bytes >> 4) & 0x3FFF) << 32 | uint64_t{1} << 62};
  }
  /// The descriptor of the operand `bytes` further on (bytes a multiple of 16; the start
  /// address field does not overflow for addresses inside the 228 KB shared window).
  __host__ __device__ constexpr SmemDesc advance(uint32_t bytes) const {
    return {bits + (bytes >> 4)};
  }
};

}  // namespace magi::cuda::sm90
