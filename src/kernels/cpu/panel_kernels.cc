#include "kernels/cpu/panel_kernels.h"

#include <algorithm>

#include "kernels/cpu/simd.h"

namespace magi::cpu {
namespace {

constexpr int R = kBlockRows;

using simd::load;
using simd::store;
using simd::Vec;

// Register tiles. NOTE: sized for 32 vector registers (AVX-512): up to 16 accumulators plus
// operands; the narrower clones spill a little, which costs less than smaller tiles would.

/// acc[b][r] += a[r, :d] . bt(:d, keys of block b), for NB consecutive key blocks at `blk`.
template <int NB, typename Acc>
[[gnu::always_inline]] inline void dot_tile(const Acc* a, int64_t lda, int64_t d, const Acc* blk,
                                            Vec<Acc> (&acc)[NB][R]) {
  constexpr int W = kLanes<Acc>;
  for (int64_t e = 0; e < d; ++e) {
    Vec<Acc> b[NB];
    for (int nb = 0; nb < NB; ++nb) load(b[nb], blk + (nb * d + e) * W);
    for (int r = 0; r < R; ++r) {
      const Acc x = a[r * lda + e];
      for (int nb = 0; nb < NB; ++nb) acc[nb][r] += x * b[nb];
    }
  }
}

/// Writes the scores of key block jb, clipped on the left to the segment.
template <typename Acc>
[[gnu::always_inline]] inline void emit_block(const Segment& seg, int64_t jb,
                                              const Vec<Acc> (&acc)[R], Acc* s, int64_t lds) {
  constexpr int W = kLanes<Acc>;
  const int64_t first = std::max(jb, seg.start) - jb;  // first lane inside the segment
  const int64_t col = seg.col + (jb + first - seg.start);
  if (first == 0) {
    // NOTE: lanes past the segment land on the next segment's columns (rewritten when it is
    // processed) or on the padding behind the last column.
    for (int r = 0; r < R; ++r) store(s + r * lds + col, acc[r]);
    return;
  }
  const int64_t n = std::min<int64_t>(W, seg.end - jb) - first;
  for (int r = 0; r < R; ++r) {
    for (int64_t l = 0; l < n; ++l) s[r * lds + col + l] = acc[r][first + l];
  }
}

template <typename Acc>
[[gnu::always_inline]] inline void dot_impl(const Acc* a, int64_t lda, int64_t d, const Acc* bt,
                                            std::span<const Segment> segs, Acc* s, int64_t lds) {
  constexpr int W = kLanes<Acc>;
  for (const Segment& seg : segs) {
    // Whole key blocks; the first may start before the segment, the last end after it.
    int64_t jb = seg.start / W * W;
    for (; jb + W < seg.end; jb += 2 * W) {
      Vec<Acc> acc[2][R] = {};  // [2 blocks][rows] x W scores
      dot_tile<2>(a, lda, d, bt + jb / W * d * W, acc);
      emit_block(seg, jb, acc[0], s, lds);
      emit_block(seg, jb + W, acc[1], s, lds);
    }
    if (jb < seg.end) {
      Vec<Acc> acc[1][R] = {};  // [1 block][rows] x W scores
      dot_tile<1>(a, lda, d, bt + jb / W * d * W, acc);
      emit_block(seg, jb, acc[0], s, lds);
    }
  }
}

/// o[:, e0 .. e0 + NE * W] += p . b over all compact columns.
template <int NE, typename Acc>
[[gnu::always_inline]] inline void gemm_cols(const Acc* p, int64_t ldp,
                                             std::span<const Segment> segs, const Acc* b,
                                             int64_t ldb, int64_t e0, Acc* o, int64_t ldo) {
  constexpr int W = kLanes<Acc>;
  Vec<Acc> acc[R][NE];  // [rows][NE] x W output columns
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < NE; ++v) load(acc[r][v], o + r * ldo + e0 + v * W);
  }
  for (const Segment& seg : segs) {
    const Acc* row = b + seg.start * ldb + e0;
    const Acc* pc = p + seg.col;
    for (int64_t j = 0; j < seg.end - seg.start; ++j, row += ldb) {
      Vec<Acc> x[NE];
      for (int v = 0; v < NE; ++v) load(x[v], row + v * W);
      for (int r = 0; r < R; ++r) {
        const Acc w = pc[r * ldp + j];
        for (int v = 0; v < NE; ++v) acc[r][v] += w * x[v];
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < NE; ++v) store(o + r * ldo + e0 + v * W, acc[r][v]);
  }
}

template <typename Acc>
[[gnu::always_inline]] inline void gemm_impl(const Acc* p, int64_t ldp,
                                             std::span<const Segment> segs, const Acc* b,
                                             int64_t ldb, int64_t dp, Acc* o, int64_t ldo) {
  constexpr int W = kLanes<Acc>;
  int64_t e0 = 0;
  for (; e0 + 2 * W <= dp; e0 += 2 * W) gemm_cols<2>(p, ldp, segs, b, ldb, e0, o, ldo);
  if (e0 < dp) gemm_cols<1>(p, ldp, segs, b, ldb, e0, o, ldo);
}

/// g rows of NK consecutive keys (compact columns c ..), columns e0 .. e0 + NE * W:
/// g[key] += sum_r p[r, c + k] * a[r, :].
template <int NK, int NE, typename Acc>
[[gnu::always_inline]] inline void rank_tile(const Acc* pc, int64_t ldp, const Acc* a, int64_t lda,
                                             int64_t e0, Acc* grow, int64_t ldg) {
  constexpr int W = kLanes<Acc>;
  Vec<Acc> acc[NK][NE];  // [keys][NE] x W gradient columns
  for (int k = 0; k < NK; ++k) {
    for (int v = 0; v < NE; ++v) load(acc[k][v], grow + k * ldg + e0 + v * W);
  }
  for (int r = 0; r < R; ++r) {
    Vec<Acc> x[NE];
    for (int v = 0; v < NE; ++v) load(x[v], a + r * lda + e0 + v * W);
    for (int k = 0; k < NK; ++k) {
      const Acc w = pc[r * ldp + k];
      for (int v = 0; v < NE; ++v) acc[k][v] += w * x[v];
    }
  }
  for (int k = 0; k < NK; ++k) {
    for (int v = 0; v < NE; ++v) store(grow + k * ldg + e0 + v * W, acc[k][v]);
  }
}

template <int NE, typename Acc>
[[gnu::always_inline]] inline void rank_cols(const Acc* p, int64_t ldp,
                                             std::span<const Segment> segs, const Acc* a,
                                             int64_t lda, int64_t e0, Acc* g, int64_t ldg,
                                             int64_t g_row0) {
  constexpr int NK = 4;
  for (const Segment& seg : segs) {
    Acc* grow = g + (seg.start - g_row0) * ldg;
    const Acc* pc = p + seg.col;
    const int64_t n = seg.end - seg.start;
    int64_t j = 0;
    for (; j + NK <= n; j += NK) rank_tile<NK, NE>(pc + j, ldp, a, lda, e0, grow + j * ldg, ldg);
    for (; j < n; ++j) rank_tile<1, NE>(pc + j, ldp, a, lda, e0, grow + j * ldg, ldg);
  }
}

template <typename Acc>
[[gnu::always_inline]] inline void rank_update_impl(const Acc* p, int64_t ldp,
                                                    std::span<const Segment> segs, const Acc* a,
                                                    int64_t lda, int64_t dp, Acc* g, int64_t ldg,
                                                    int64_t g_row0) {
  constexpr int W = kLanes<Acc>;
  int64_t e0 = 0;
  for (; e0 + 4 * W <= dp; e0 += 4 * W) rank_cols<4>(p, ldp, segs, a, lda, e0, g, ldg, g_row0);
  for (; e0 < dp; e0 += W) rank_cols<1>(p, ldp, segs, a, lda, e0, g, ldg, g_row0);
}

}  // namespace

MAGI_CPU_CLONES void panel_dot(const float* a, int64_t lda, int64_t d, const float* bt,
                               std::span<const Segment> segs, float* s, int64_t lds) {
  dot_impl(a, lda, d, bt, segs, s, lds);
}
MAGI_CPU_CLONES void panel_dot(const double* a, int64_t lda, int64_t d, const double* bt,
                               std::span<const Segment> segs, double* s, int64_t lds) {
  dot_impl(a, lda, d, bt, segs, s, lds);
}

MAGI_CPU_CLONES void panel_gemm(const float* p, int64_t ldp, std::span<const Segment> segs,
                                const float* b, int64_t ldb, int64_t dp, float* o, int64_t ldo) {
  gemm_impl(p, ldp, segs, b, ldb, dp, o, ldo);
}
MAGI_CPU_CLONES void panel_gemm(const double* p, int64_t ldp, std::span<const Segment> segs,
                                const double* b, int64_t ldb, int64_t dp, double* o, int64_t ldo) {
  gemm_impl(p, ldp, segs, b, ldb, dp, o, ldo);
}

MAGI_CPU_CLONES void panel_rank_update(const float* p, int64_t ldp, std::span<const Segment> segs,
                                       const float* a, int64_t lda, int64_t dp, float* g,
                                       int64_t ldg, int64_t g_row0) {
  rank_update_impl(p, ldp, segs, a, lda, dp, g, ldg, g_row0);
}
MAGI_CPU_CLONES void panel_rank_update(const double* p, int64_t ldp, std::span<const Segment> segs,
                                       const double* a, int64_t lda, int64_t dp, double* g,
                                       int64_t ldg, int64_t g_row0) {
  rank_update_impl(p, ldp, segs, a, lda, dp, g, ldg, g_row0);
}

}  // namespace magi::cpu
