// The per-row arithmetic of the attention sink (src/kernels/sink.h), kept apart from the loops
// so that its edge cases (-inf, NaN, +inf) are tested one by one.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace magi::cpu {

/// logsumexp of n sink logits read with a stride: -inf when every logit is -inf (no sink), NaN
/// when one is NaN or +inf (DESIGN.md §6: such a row is NaN, as with a NaN or +inf score).
inline double sink_lse(const float* logits, int64_t n, int64_t stride) {
  double mx = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < n; ++i) {
    const double x = logits[i * stride];
    // NOTE: !(x < inf) is true for NaN as well as +inf.
    if (!(x < std::numeric_limits<double>::infinity()))
      return std::numeric_limits<double>::quiet_NaN();
    mx = std::max(mx, x);
  }
  if (mx == -std::numeric_limits<double>::infinity()) return mx;
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(double(logits[i * stride]) - mx);
  return mx + std::log(sum);
}

/// The row's result after the sink: lse' and the weight w with out' = w * out.
struct SinkMerge {
  double lse;
  double w;
};

/// lse: the row's lse over its keys; ls: sink_lse of its sinks.
inline SinkMerge sink_merge(double lse, double ls) {
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  if (ls == kNegInf) return {lse, 1.0};          // no sink: the row as it is (NaN stays)
  if (std::isnan(ls)) return {kNaN, kNaN};       // a NaN / +inf logit (sink_lse)
  if (lse == kNegInf) return {ls, 0.0};          // no key: only the sinks
  if (!std::isfinite(lse)) return {kNaN, kNaN};  // a NaN row stays NaN, out included
  const double mx = std::max(lse, ls), mn = std::min(lse, ls);
  const double merged = mx + std::log1p(std::exp(mn - mx));
  return {merged, std::exp(lse - merged)};
}

}  // namespace magi::cpu
