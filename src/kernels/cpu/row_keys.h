// The mask seen row by row: the CPU kernels' view of a slice list.
//
// RowKeys stores, for every query row, the sorted key intervals of the union of the slices'
// cells. BlockCols compacts the keys of a small block of consecutive rows into one column
// space, so a block's scores are computed as one dense [rows x cols] panel; each row then uses
// only its own columns.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "magi/mask.h"

namespace magi::cpu {

class RowKeys {
 public:
  /// Union semantics: each row's intervals from all slices are sorted and fused, so a cell
  /// covered by several slices counts once. Slices must lie inside [0, total_q) x
  /// [0, total_k) (check_slices).
  static RowKeys build(std::span<const AttnSlice> slices, int64_t total_q);

  int64_t rows() const { return static_cast<int64_t>(offsets_.size()) - 1; }
  /// Keys of `row`: sorted, disjoint, non-adjacent, non-empty intervals.
  std::span<const AttnRange> row(int64_t row) const {
    return {keys_.data() + offsets_[row], keys_.data() + offsets_[row + 1]};
  }
  /// Number of keys of `row`.
  int64_t cells(int64_t row) const;

 private:
  std::vector<int64_t> offsets_;  // [rows + 1] into keys_
  std::vector<AttnRange> keys_;
};

/// Keys [start, end) stored at compact columns [col, col + end - start).
struct Segment {
  int64_t start = 0;
  int64_t end = 0;
  int64_t col = 0;
};

/// The union of the keys of rows [row0, row0 + n) as compact columns.
class BlockCols {
 public:
  /// Rebuilds for a new block; reuses the allocations of earlier blocks.
  void build(const RowKeys& keys, int64_t row0, int n);

  /// Sorted, coalesced key segments with increasing compact columns.
  std::span<const Segment> segments() const { return segments_; }
  /// Total compact columns.
  int64_t cols() const { return cols_; }
  /// The compact column ranges of the i-th row of the block (its own keys only).
  std::span<const AttnRange> row_cols(int i) const { return row_cols_[i]; }

 private:
  std::vector<AttnRange> scratch_;
  std::vector<Segment> segments_;
  std::vector<std::vector<AttnRange>> row_cols_;
  int64_t cols_ = 0;
};

}  // namespace magi::cpu
