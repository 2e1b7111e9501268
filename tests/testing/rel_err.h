// The tests' error measure against a reference: max |a - b| / max |b| over the finite entries;
// non-finite entries (-inf lse of empty rows, NaN) must match exactly, and so must the sizes.
// `slack` (optional, per entry) is error the arithmetic may make beyond that: it is taken off
// each |a - b| first.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

namespace magi::testing {

inline double rel_err(const std::vector<double>& a, const std::vector<double>& b,
                      const std::vector<double>* slack = nullptr) {
  if (a.size() != b.size() || (slack && slack->size() != b.size())) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    if (!std::isfinite(b[i]) || !std::isfinite(a[i])) {
      if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return INFINITY;
      continue;
    }
    num = std::max(num, std::abs(a[i] - b[i]) - (slack ? (*slack)[i] : 0.0));
    den = std::max(den, std::abs(b[i]));
  }
  return den > 0 ? num / den : num;
}

}  // namespace magi::testing
