// Band: the closed geometry behind slice algebra.
//
// A band is the cell set {(q, k) : q in q, k in k, dlo <= k - q < dhi}. Every slice type is a
// band (FULL has no diagonal bound, CAUSAL an upper one, INVCAUSAL a lower one, BICAUSAL both),
// and bands are closed under intersection with boxes and with each other, which makes clipping
// and subtraction exact. `to_slices` converts back to at most three typed slices.
#pragma once

#include <cstdint>
#include <vector>

#include "magi/mask.h"

namespace magi::mask {

/// A diagonal bound that never binds.
inline constexpr int64_t kNoBound = int64_t{1} << 60;

struct Band {
  AttnRange q;
  AttnRange k;
  int64_t dlo = -kNoBound;  // k - q >= dlo
  int64_t dhi = kNoBound;   // k - q <  dhi

  static Band from_slice(const AttnSlice& s);
  /// Keys seen by `row`: [max(k.start, row + dlo), min(k.end, row + dhi)), maybe empty.
  AttnRange row_keys(int64_t row) const;
  /// Shrinks q and k to the rows and columns that hold a cell and drops diagonal bounds that
  /// no longer bind. The result is empty() or every row and column in it holds a cell.
  Band trimmed() const;
  bool empty() const { return q.empty() || k.empty() || dlo >= dhi; }
  /// Exact cell count (any band, trimmed or not).
  int64_t area() const;
  Band intersect(const Band& o) const;
  Band with_rows(AttnRange rows) const { return {q.intersect(rows), k, dlo, dhi}; }
  Band with_cols(AttnRange cols) const { return {q, k.intersect(cols), dlo, dhi}; }
};

/// At most three slices holding exactly the band's cells.
std::vector<AttnSlice> to_slices(const Band& b);
/// a \ b as disjoint, trimmed, non-empty bands.
std::vector<Band> subtract(const Band& a, const Band& b);

}  // namespace magi::mask
