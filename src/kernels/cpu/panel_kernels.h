// Dense inner kernels of the CPU FFA: a block of kBlockRows query rows against the compact
// key columns of a BlockCols (see row_keys.h). All three are register-tiled GEMM micro-loops
// over kLanes-wide column groups; on x86-64 they are compiled for AVX-512, AVX2+FMA and the
// baseline ISA, chosen at load time.
//
// Operand layouts (element strides, no byte strides):
//   a   [kBlockRows, lda]  query-side rows (q, dO); rows past the block's end are zero
//   bt  [ceil(Sk/W), d, W] a key-side operand in key blocks of W = kLanes keys:
//                          bt[((key / W) * d + e) * W + key % W], zero past Sk
//   b   [Sk, ldb]          a key-side operand row-major:  b[key * ldb + e]
//   p   [kBlockRows, ldp]  per-row weights over compact columns
// Padding contracts: `dp` is a multiple of kLanes<Acc>, and rows of b / a / o / g hold dp
// valid (zero-padded) elements.
#pragma once

#include <cstdint>
#include <span>

#include "kernels/cpu/row_keys.h"

namespace magi::cpu {

inline constexpr int kBlockRows = 8;

/// Elements per column group: one 64-byte vector.
template <typename Acc>
inline constexpr int kLanes = 64 / static_cast<int>(sizeof(Acc));

/// Pads a head dim (or any length) up to a multiple of kLanes.
template <typename Acc>
constexpr int64_t pad_lanes(int64_t n) {
  return (n + kLanes<Acc> - 1) / kLanes<Acc> * kLanes<Acc>;
}

/// s[r * lds + c] = sum_{e < d} a[r * lda + e] * bt(e, key(c)) for every row r and compact
/// column c. Writes up to kLanes - 1 columns past segs' last column: lds must be at least
/// cols + kLanes.
void panel_dot(const float* a, int64_t lda, int64_t d, const float* bt,
               std::span<const Segment> segs, float* s, int64_t lds);
void panel_dot(const double* a, int64_t lda, int64_t d, const double* bt,
               std::span<const Segment> segs, double* s, int64_t lds);

/// o[r * ldo + e] += sum_c p[r * ldp + c] * b[key(c) * ldb + e] for e < dp.
void panel_gemm(const float* p, int64_t ldp, std::span<const Segment> segs, const float* b,
                int64_t ldb, int64_t dp, float* o, int64_t ldo);
void panel_gemm(const double* p, int64_t ldp, std::span<const Segment> segs, const double* b,
                int64_t ldb, int64_t dp, double* o, int64_t ldo);

/// g[(key(c) - g_row0) * ldg + e] += sum_r p[r * ldp + c] * a[r * lda + e] for e < dp: the
/// transposed product, scattered onto key rows (rows outside segs are untouched).
void panel_rank_update(const float* p, int64_t ldp, std::span<const Segment> segs, const float* a,
                       int64_t lda, int64_t dp, float* g, int64_t ldg, int64_t g_row0);
void panel_rank_update(const double* p, int64_t ldp, std::span<const Segment> segs, const double* a,
                       int64_t lda, int64_t dp, double* g, int64_t ldg, int64_t g_row0);

}  // namespace magi::cpu
