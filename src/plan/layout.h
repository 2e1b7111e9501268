// Moving slices between global and buffer coordinates.
#pragma once

#include <span>
#include <vector>

#include "magi/mask.h"

namespace magi::plan {

/// Index of which slices touch which chunk of rows, built once per mask.
class RowIndex {
 public:
  RowIndex(std::span<const AttnSlice> slices, int64_t total_rows, int64_t chunk_size);
  /// The slices' cells in `rows` (merged, ascending global ranges), with q moved to the rows'
  /// local numbering (rows stored back to back) and k left global. Pieces are trimmed.
  std::vector<AttnSlice> select(const AttnRanges& rows) const;

 private:
  std::vector<AttnSlice> slices_;
  int64_t chunk_size_;
  std::vector<std::vector<int32_t>> by_chunk_;  // slice ids touching each row chunk
};

/// Clips each slice's k range to the pieces of `layout` (disjoint global ranges, in buffer
/// order) and moves k to buffer rows. Cells outside the layout are dropped.
std::vector<AttnSlice> map_keys(std::span<const AttnSlice> slices, const AttnRanges& layout);

/// Merges slices with the same q range whose k ranges touch and whose union is one slice
/// (FULL|FULL, FULL|CAUSAL, INVCAUSAL|FULL, INVCAUSAL|CAUSAL). Exact: the cells do not change.
std::vector<AttnSlice> coalesce(std::vector<AttnSlice> slices);

/// Total cells.
int64_t total_area(std::span<const AttnSlice> slices);

}  // namespace magi::plan
