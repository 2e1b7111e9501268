// Exact merge of two partial attention results over disjoint key sets (DESIGN.md §2):
//   lse = max + log1p(exp(min - max)),  out = exp(l1 - lse) * o1 + exp(l2 - lse) * o2.
// A partial with lse = -inf holds no key; the merge then keeps the other one as it is, so no
// 0 * inf or inf - inf ever appears. Any other non-finite lse (NaN: a row whose scores hold a
// NaN or +inf) makes the result NaN in lse and in every element of out, as the same row
// computed on one device would be (DESIGN.md §6, "NaN is data").
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace magi::cpu {

struct LseMerge {
  double w1 = 1.0;  // weight of the partial already held
  double w2 = 0.0;  // weight of the incoming partial
  double lse = -std::numeric_limits<double>::infinity();
  bool keep1 = true;   // w2 == 0: the held partial is the result
  bool take2 = false;  // w1 == 0: the incoming partial is the result
};

inline LseMerge lse_merge(double l1, double l2) {
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  if (l2 == kNegInf) return {1.0, 0.0, l1, true, false};
  if (l1 == kNegInf) return {0.0, 1.0, l2, false, true};
  // NOTE: tested explicitly: std::max / std::min would drop a NaN and give a finite lse.
  if (!std::isfinite(l1) || !std::isfinite(l2)) return {kNaN, kNaN, kNaN, false, false};
  const double mx = std::max(l1, l2), mn = std::min(l1, l2);
  const double lse = mx + std::log1p(std::exp(mn - mx));
  return {std::exp(l1 - lse), std::exp(l2 - lse), lse, false, false};
}

/// o1[i] = merged value for i < n (o1 and o2 as double rows).
inline void apply_lse_merge(const LseMerge& m, double* o1, const double* o2, int64_t n) {
  if (m.keep1) return;
  if (m.take2) {
    std::copy(o2, o2 + n, o1);
    return;
  }
  for (int64_t i = 0; i < n; ++i) o1[i] = m.w1 * o1[i] + m.w2 * o2[i];
}

}  // namespace magi::cpu
