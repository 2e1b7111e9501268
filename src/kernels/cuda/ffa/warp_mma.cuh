// Warp-level tensor-core GEMM pieces over padded row-major shared tiles.
//
// Fragment layout of mma.m16n8k16 (g = lane / 4, t = lane % 4):
//   accumulator c[4]: (row g, cols 2t, 2t+1), (row g + 8, cols 2t, 2t+1)
//   A a[4]: rows g / g+8 x k 2t..2t+1 (a0, a1), then k + 8 (a2, a3)
//   B b[2]: k 2t..2t+1 (b0) and k 8 + 2t.. (b1) of column n = g
#pragma once

#include <cstdint>

#include "kernels/cuda/ffa/traits.cuh"
#include "kernels/cuda/ptx/ldmatrix.cuh"
#include "kernels/cuda/ptx/mma.cuh"

namespace magi::cuda {

template <Elem E>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4],
                                          const uint32_t (&b)[2]) {
  if constexpr (E == Elem::kBf16) {
    ptx::mma_m16n8k16_bf16(d, a, b);
  } else {
    ptx::mma_m16n8k16_f16(d, a, b);
  }
}

/// Two floats -> one register of two 16-bit elements (x in the low half).
template <Elem E>
__device__ __forceinline__ uint32_t pack2(float x, float y) {
  using T2 = typename ElemInfo<E>::T2;
  T2 v;
  if constexpr (E == Elem::kBf16) {
    v = __floats2bfloat162_rn(x, y);
  } else {
    v = __floats2half2_rn(x, y);
  }
  return *reinterpret_cast<uint32_t*>(&v);
}

/// Byte address (shared window) of element (r, c) of a tile with `pitch` elements per row.
__device__ __forceinline__ uint32_t tile_addr(uint32_t base, int pitch, int r, int c) {
  return base + static_cast<uint32_t>((r * pitch + c) * 2);
}

/// A fragment (16 x 16) at (m0, k0) of A stored row-major A[m][k].
__device__ __forceinline__ void load_a(uint32_t (&a)[4], uint32_t base, int pitch, int m0, int k0,
                                       int lane) {
  ptx::ldmatrix_x4(tile_addr(base, pitch, m0 + (lane & 15), k0 + (lane >> 4) * 8), a);
}

/// A fragment (16 x 16) at (m0, k0) of A stored transposed, At[k][m].
__device__ __forceinline__ void load_a_trans(uint32_t (&a)[4], uint32_t base, int pitch, int m0,
                                             int k0, int lane) {
  const int i = lane >> 3;
  ptx::ldmatrix_x4_trans(tile_addr(base, pitch, k0 + (i >> 1) * 8 + (lane & 7), m0 + (i & 1) * 8),
                         a);
}

/// B fragments of two n8 tiles (n0 .. n0+15) x k16 at k0, of B stored as Bt[n][k].
__device__ __forceinline__ void load_b_nk(uint32_t (&b)[2][2], uint32_t base, int pitch, int n0,
                                          int k0, int lane) {
  const int i = lane >> 3;
  uint32_t r[4];
  ptx::ldmatrix_x4(tile_addr(base, pitch, n0 + (i >> 1) * 8 + (lane & 7), k0 + (i & 1) * 8), r);
  b[0][0] = r[0];
  b[0][1] = r[1];
  b[1][0] = r[2];
  b[1][1] = r[3];
}

/// B fragments of two n8 tiles (n0 .. n0+15) x k16 at k0, of B stored as B[k][n].
__device__ __forceinline__ void load_b_kn(uint32_t (&b)[2][2], uint32_t base, int pitch, int n0,
                                          int k0, int lane) {
  const int i = lane >> 3;
  uint32_t r[4];
  ptx::ldmatrix_x4_trans(tile_addr(base, pitch, k0 + (i & 1) * 8 + (lane & 7), n0 + (i >> 1) * 8),
                         r);
  b[0][0] = r[0];
  b[0][1] = r[1];
  b[1][0] = r[2];
  b[1][1] = r[3];
}

enum class ALayout { kMK, kKM };  // A[m][k] or At[k][m] in shared memory
enum class BLayout { kNK, kKN };  // Bt[n][k] or B[k][n] in shared memory

/// acc[kMT][kNT] (rows m0 + 16 mt, cols n0 + 8 nt) += A(m, ka0 .. ka0 + kK) * B(kb0 .., n).
template <Elem E, int kMT, int kNT, int kK, ALayout LA, BLayout LB>
__device__ __forceinline__ void warp_gemm_ss(float (&acc)[kMT][kNT][4], uint32_t a_base,
                                             int a_pitch, int m0, int ka0, uint32_t b_base,
                                             int b_pitch, int n0, int kb0, int lane) {
  static_assert(kNT % 2 == 0 && kK % 16 == 0);
#pragma unroll
  for (int kk = 0; kk < kK / 16; ++kk) {
    uint32_t a[kMT][4];  // A fragments, 16 x 16 each
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt) {
      if constexpr (LA == ALayout::kMK) {
        load_a(a[mt], a_base, a_pitch, m0 + 16 * mt, ka0 + 16 * kk, lane);
      } else {
        load_a_trans(a[mt], a_base, a_pitch, m0 + 16 * mt, ka0 + 16 * kk, lane);
      }
    }
#pragma unroll
    for (int np = 0; np < kNT / 2; ++np) {
      uint32_t b[2][2];  // two 16 x 8 B fragments
      if constexpr (LB == BLayout::kNK) {
        load_b_nk(b, b_base, b_pitch, n0 + 16 * np, kb0 + 16 * kk, lane);
      } else {
        load_b_kn(b, b_base, b_pitch, n0 + 16 * np, kb0 + 16 * kk, lane);
      }
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt) {
        mma_16816<E>(acc[mt][2 * np], a[mt], b[0]);
        mma_16816<E>(acc[mt][2 * np + 1], a[mt], b[1]);
      }
    }
  }
}

/// Two independent products of the same shape and layouts, interleaved step by step so the
/// tensor pipe always has two accumulation chains and two fragment streams in flight:
/// acc0 += A0 B0, acc1 += A1 B1.
template <Elem E, int kMT, int kNT, int kK, ALayout LA, BLayout LB>
__device__ __forceinline__ void warp_gemm_ss_x2(float (&acc0)[kMT][kNT][4],
                                                float (&acc1)[kMT][kNT][4], uint32_t a0_base,
                                                uint32_t a1_base, int a_pitch, int m0,
                                                uint32_t b0_base, uint32_t b1_base, int b_pitch,
                                                int n0, int lane) {
  static_assert(kNT % 2 == 0 && kK % 16 == 0);
#pragma unroll
  for (int kk = 0; kk < kK / 16; ++kk) {
    uint32_t a0[kMT][4], a1[kMT][4];  // A fragments of both products, 16 x 16 each
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt) {
      if constexpr (LA == ALayout::kMK) {
        load_a(a0[mt], a0_base, a_pitch, m0 + 16 * mt, 16 * kk, lane);
        load_a(a1[mt], a1_base, a_pitch, m0 + 16 * mt, 16 * kk, lane);
      } else {
        load_a_trans(a0[mt], a0_base, a_pitch, m0 + 16 * mt, 16 * kk, lane);
        load_a_trans(a1[mt], a1_base, a_pitch, m0 + 16 * mt, 16 * kk, lane);
      }
    }
#pragma unroll
    for (int np = 0; np < kNT / 2; ++np) {
      uint32_t b0[2][2], b1[2][2];  // 16 x 8 B fragments of both products
      if constexpr (LB == BLayout::kNK) {
        load_b_nk(b0, b0_base, b_pitch, n0 + 16 * np, 16 * kk, lane);
        load_b_nk(b1, b1_base, b_pitch, n0 + 16 * np, 16 * kk, lane);
      } else {
        load_b_kn(b0, b0_base, b_pitch, n0 + 16 * np, 16 * kk, lane);
        load_b_kn(b1, b1_base, b_pitch, n0 + 16 * np, 16 * kk, lane);
      }
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt) {
        mma_16816<E>(acc0[mt][2 * np], a0[mt], b0[0]);
        mma_16816<E>(acc1[mt][2 * np], a1[mt], b1[0]);
        mma_16816<E>(acc0[mt][2 * np + 1], a0[mt], b0[1]);
        mma_16816<E>(acc1[mt][2 * np + 1], a1[mt], b1[1]);
      }
    }
  }
}

/// acc[kMT][kNT] += A (registers, kMT x kK/16 fragments) * B(kb0 .. kb0 + kK, n0 ..).
template <Elem E, int kMT, int kNT, int kK, BLayout LB>
__device__ __forceinline__ void warp_gemm_rs(float (&acc)[kMT][kNT][4],
                                             const uint32_t (&a)[kMT][kK / 16][4], uint32_t b_base,
                                             int b_pitch, int n0, int kb0, int lane) {
  static_assert(kNT % 2 == 0 && kK % 16 == 0);
#pragma unroll
  for (int kk = 0; kk < kK / 16; ++kk) {
#pragma unroll
    for (int np = 0; np < kNT / 2; ++np) {
      uint32_t b[2][2];  // two 16 x 8 B fragments
      if constexpr (LB == BLayout::kNK) {
        load_b_nk(b, b_base, b_pitch, n0 + 16 * np, kb0 + 16 * kk, lane);
      } else {
        load_b_kn(b, b_base, b_pitch, n0 + 16 * np, kb0 + 16 * kk, lane);
      }
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt) {
        mma_16816<E>(acc[mt][2 * np], a[mt][kk], b[0]);
        mma_16816<E>(acc[mt][2 * np + 1], a[mt][kk], b[1]);
      }
    }
  }
}

/// Accumulators of a (16 kMT) x (8 kNT) tile -> A fragments of the same tile (k = columns).
template <Elem E, int kMT, int kNT>
__device__ __forceinline__ void acc_to_a(const float (&acc)[kMT][kNT][4],
                                         uint32_t (&a)[kMT][kNT / 2][4]) {
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
    for (int kk = 0; kk < kNT / 2; ++kk) {
      a[mt][kk][0] = pack2<E>(acc[mt][2 * kk][0], acc[mt][2 * kk][1]);
      a[mt][kk][1] = pack2<E>(acc[mt][2 * kk][2], acc[mt][2 * kk][3]);
      a[mt][kk][2] = pack2<E>(acc[mt][2 * kk + 1][0], acc[mt][2 * kk + 1][1]);
      a[mt][kk][3] = pack2<E>(acc[mt][2 * kk + 1][2], acc[mt][2 * kk + 1][3]);
    }
  }
}

template <int kMT, int kNT>
__device__ __forceinline__ void zero_acc(float (&acc)[kMT][kNT][4]) {
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
    for (int nt = 0; nt < kNT; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[mt][nt][e] = 0.f;
}

}  // namespace magi::cuda
