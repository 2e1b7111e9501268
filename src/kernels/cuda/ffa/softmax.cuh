// Online softmax over the rows a thread holds in mma accumulator layout (log2 units).
#pragma once

#include <cmath>

#include "kernels/cuda/ptx/math.cuh"

namespace magi::cuda {

/// Rows per thread: kMT m-tiles x 2 (g and g + 8). Row sums stay thread-partial until
/// finalize(); the row max is reduced over the quad (the 4 lanes sharing a row) at each step.
template <int kMT>
struct OnlineSoftmax {
  float row_max[kMT][2];  // running max of the scores (log2 units), -inf before any cell
  float row_sum[kMT][2];  // thread-partial sum of 2^(score - row_max)

  __device__ __forceinline__ void init() {
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
      for (int hi = 0; hi < 2; ++hi) {
        row_max[mt][hi] = -INFINITY;
        row_sum[mt][hi] = 0.f;
      }
  }

  /// s: scores of one key tile (masked cells -inf), replaced by their probabilities
  /// 2^(s - max); o: output accumulators, rescaled to the new max.
  template <int kNT, int kNO>
  __device__ __forceinline__ void update(float (&s)[kMT][kNT][4], float (&o)[kMT][kNO][4]) {
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
      for (int hi = 0; hi < 2; ++hi) {
        float mx = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < kNT; ++nt) {
          mx = fmaxf(mx, fmaxf(s[mt][nt][2 * hi], s[mt][nt][2 * hi + 1]));
        }
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float m_new = fmaxf(row_max[mt][hi], mx);
        // NOTE: a row without any cell so far keeps max -inf; subtracting 0 instead keeps
        // 2^(-inf - m) = 0 and avoids (-inf) - (-inf) = NaN.
        const float m_use = m_new == -INFINITY ? 0.f : m_new;
        const float alpha = ptx::ex2_approx_ftz(row_max[mt][hi] - m_use);
        row_max[mt][hi] = m_new;
        float rs = 0.f;
#pragma unroll
        for (int nt = 0; nt < kNT; ++nt) {
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const float pv = ptx::ex2_approx_ftz(s[mt][nt][2 * hi + e] - m_use);
            s[mt][nt][2 * hi + e] = pv;
            rs += pv;
          }
        }
        row_sum[mt][hi] = row_sum[mt][hi] * alpha + rs;
#pragma unroll
        for (int nt = 0; nt < kNO; ++nt) {
          o[mt][nt][2 * hi] *= alpha;
          o[mt][nt][2 * hi + 1] *= alpha;
        }
      }
    }
  }

  /// Reduces the row sums over the quad.
  __device__ __forceinline__ void finalize() {
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt)
#pragma unroll
      for (int hi = 0; hi < 2; ++hi) {
        float l = row_sum[mt][hi];
        l += __shfl_xor_sync(0xffffffffu, l, 1);
        l += __shfl_xor_sync(0xffffffffu, l, 2);
        row_sum[mt][hi] = l;
      }
  }
};

}  // namespace magi::cuda
