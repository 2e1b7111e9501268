// The tests' error measure against a reference: max |a - b| / max |b| over the finite entries;
// non-finite entries (-inf lse of empty rows, NaN) must match exactly, and so must the sizes.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

namespace magi::testing {

inline double rel_err(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    if (!std::isfinite(b[i]) || !std::isfinite(a[i])) {
      if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return INFINITY;
      continue;
    }
    num = std::max(num, std::abs(a[i] - b[i]));
    den = std::max(den, std::abs(b[i]));
  }
  return den > 0 ? num / den : num;
}

}  // namespace magi::testing
