// Shared-memory tiles in the layout wgmma reads (128-byte swizzle), and their descriptors.
//
// A [kRows x kCols] tile of 16-bit elements (kCols a multiple of 64) is stored as kCols / 64
// "atoms" of [kRows x 64], one after another; in an atom, row r is 128 bytes at r * 128 whose
// 16-byte chunks are XOR-permuted by r % 8 (PTX's 128-byte swizzle; the hardware applies the
// same permutation to the addresses a descriptor generates, so tiles must be 1024-byte aligned).
// The same bytes serve as a K-major operand (K = columns) or an MN-major one (K = rows).
#pragma once

#include <cstdint>

#include "kernels/cuda/ffa/sm90/smem_desc.cuh"
#include "kernels/cuda/ptx/cp_async.cuh"
#include "kernels/cuda/ptx/shared.cuh"

namespace magi::cuda::sm90 {

/// Dynamic shared memory a CTA may use on Hopper (227 KB).
inline constexpr int kMaxSmemBytes = 227 * 1024;

/// The kernel's shared storage at the first 1024-byte boundary of dynamic shared memory
/// (swizzled tiles need it; the launch asks for sizeof(Storage) + 1024 bytes).
template <class Storage>
__device__ __forceinline__ Storage& shared_storage(unsigned char* smem_raw) {
  const uint32_t raw = ptx::cvta_to_shared(smem_raw);
  return *reinterpret_cast<Storage*>(smem_raw + (((raw + 1023u) & ~1023u) - raw));
}

/// A K-major operand in a 128-byte-swizzled tile: K slice kk (16 elements, 32 bytes) is 32 kk
/// bytes into the row, and every 64 columns start a new atom of kAtomBytes.
template <uint32_t kAtomBytes>
struct KMajorSw128 {
  SmemDesc desc;
  __device__ __forceinline__ SmemDesc advance_k(int kk) const {
    return desc.advance((kk >> 2) * kAtomBytes + (kk & 3) * 32);
  }
};

/// An MN-major operand in a 128-byte-swizzled tile: K slice kk is rows 16 kk .. 16 kk + 15.
struct MnMajorSw128 {
  SmemDesc desc;
  __device__ __forceinline__ SmemDesc advance_k(int kk) const {
    return desc.advance(kk * 16 * 128);
  }
};

/// A [kRows x kCols] fp32 tile in the same 128-byte swizzle (atoms of [kRows x 32]), the
/// shared layout of a TMA box {32, 1, kRows} with CU_TENSOR_MAP_SWIZZLE_128B.
template <int kRows, int kCols>
struct Sw128TileF32 {
  static_assert(kCols % 32 == 0 && kRows % 8 == 0);
  static constexpr int kAtomBytes = kRows * 128;
  static constexpr int kAtoms = kCols / 32;
  static constexpr int kBytes = kAtomBytes * kAtoms;

  /// Byte offset of element (r, c); c even (8-byte stores of two elements stay in one chunk).
  __device__ __forceinline__ static uint32_t offset(int r, int c) {
    return static_cast<uint32_t>((c >> 5) * kAtomBytes + r * 128 +
                                 ((((c >> 2) & 7) ^ (r & 7)) << 4) + (c & 3) * 4);
  }
  /// The shared address of element (r, c + 8 j), j in [0, 4), from `at`, that of (r, c) with
  /// c % 32 < 8, in a tile at a 128-aligned address: the swizzle XORs the 16-byte chunk index
  /// (address bits 4-6) with the row, and 8 columns on is 2 chunks on, so only bits 5-6 flip.
  /// One instruction where offset() takes several (ptxas recomputes those per use).
  __device__ __forceinline__ static uint32_t step8(uint32_t at, int j) { return at ^ (j << 5); }
};

template <int kRows, int kCols>
struct Sw128Tile {
  static_assert(kCols % 64 == 0 && kRows % 8 == 0);
  static constexpr int kAtomBytes = kRows * 128;
  static constexpr int kBytes = kAtomBytes * (kCols / 64);

  /// Byte offset of element (r, c); c even (4-byte stores of two elements stay in one chunk).
  __device__ __forceinline__ static uint32_t offset(int r, int c) {
    return static_cast<uint32_t>((c >> 6) * kAtomBytes + r * 128 +
                                 ((((c >> 3) & 7) ^ (r & 7)) << 4) + (c & 7) * 2);
  }

  /// Rows [r0, r0 + M) (r0 a multiple of 8) as a K-major operand (K = columns).
  __device__ __forceinline__ static KMajorSw128<kAtomBytes> k_major(uint32_t base, int r0) {
    return {SmemDesc::sw128(base + r0 * 128, 16, 1024)};
  }
  /// Columns c0 .. as an MN-major operand (K = rows). c0 a multiple of 64, or of 32 for an
  /// operand of at most 32 columns (N = 32): its start is then 64 bytes into the atom's rows,
  /// which the hardware's swizzle of absolute addresses handles as for a K-major operand's
  /// K slices (bwd_ws_consumer.cuh: issue_dq at head dim 64).
  __device__ __forceinline__ static MnMajorSw128 mn_major(uint32_t base, int c0) {
    return {SmemDesc::sw128(base + (c0 >> 6) * kAtomBytes + (c0 & 63) * 2, kAtomBytes, 1024)};
  }
  /// The descriptor bits of K slice kk of k_major(base, r0) / mn_major(base, c0).
  __device__ __forceinline__ static uint64_t k_major(uint32_t base, int r0, int kk) {
    return k_major(base, r0).advance_k(kk).bits;
  }
  __device__ __forceinline__ static uint64_t mn_major(uint32_t base, int kk, int c0) {
    return mn_major(base, c0).advance_k(kk).bits;
  }

  /// cp.async of rows [row0, row0 + kRows) x kCols of a strided matrix (row_limit and later
  /// rows zero-filled) into the tile at `base`.
  template <int kThreads, class T>
  __device__ __forceinline__ static void load_async(uint32_t base, const T* src, int64_t row_stride,
                                                    int row0, int row_limit, int tid) {
    constexpr int kChunksPerRow = kCols / 8;
    constexpr int kChunks = kRows * kChunksPerRow;
    static_assert(kChunks % kThreads == 0);
#pragma unroll
    for (int i = 0; i < kChunks / kThreads; ++i) {
      const int ch = tid + i * kThreads;
      const int r = ch / kChunksPerRow, cc = ch % kChunksPerRow;
      const int gr = row0 + r;
      const bool ok = gr < row_limit;
      const T* g = src + (ok ? static_cast<int64_t>(gr) * row_stride + cc * 8 : 0);
      const uint32_t dst = base + (cc >> 3) * kAtomBytes + r * 128 + (((cc & 7) ^ (r & 7)) << 4);
      ptx::cp_async_cg_16(dst, g, ok ? 16 : 0);
    }
  }
};

}  // namespace magi::cuda::sm90
