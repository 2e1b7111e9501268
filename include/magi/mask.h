// The mask model: token ranges, mask types and attention slices.
//
// A mask is the union of the cells of its slices. A slice is (q range, k range, type); with
// i = q - q.start, j = k - k.start, Sq = |q|, Sk = |k|:
//   FULL       all cells
//   CAUSAL     j <= i + (Sk - Sq)      (diagonal aligned bottom-right)
//   INVCAUSAL  j >= i                  (diagonal aligned top-left)
//   BICAUSAL   both
// Every operation here is exact: clipping a slice to a block of rows or columns re-expresses
// the cut piece with the same four types, and `make_disjoint` turns any slice list into one
// whose slices share no cell.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace magi {

/// Half-open token interval [start, end). A range with end <= start is empty.
struct AttnRange {
  int64_t start = 0;
  int64_t end = 0;

  constexpr int64_t size() const { return end > start ? end - start : 0; }
  constexpr bool empty() const { return end <= start; }
  constexpr bool contains(int64_t x) const { return start <= x && x < end; }
  /// Intersection; empty results are normalised to {0, 0}.
  constexpr AttnRange intersect(AttnRange o) const {
    AttnRange r{start > o.start ? start : o.start, end < o.end ? end : o.end};
    return r.empty() ? AttnRange{} : r;
  }
  constexpr AttnRange offset(int64_t d) const { return {start + d, end + d}; }
  friend constexpr bool operator==(AttnRange, AttnRange) = default;
  friend constexpr auto operator<=>(AttnRange, AttnRange) = default;
};

/// Throws unless 0 <= start <= end (<= limit when limit >= 0); `what` names the argument.
void check_range(AttnRange r, std::string_view what, int64_t limit = -1);

std::string to_string(AttnRange r);

/// An ordered list of ranges with the set algebra the planner needs.
class AttnRanges {
 public:
  AttnRanges() = default;
  explicit AttnRanges(std::vector<AttnRange> ranges) : ranges_(std::move(ranges)) {}
  AttnRanges(std::initializer_list<AttnRange> ranges) : ranges_(ranges) {}

  /// Ranges [cu[i], cu[i+1]); cu must start at 0, increase strictly and end at `total`.
  static AttnRanges from_cu_seqlens(std::span<const int64_t> cu, int64_t total);

  const std::vector<AttnRange>& items() const { return ranges_; }
  size_t size() const { return ranges_.size(); }
  bool empty() const { return ranges_.empty(); }
  const AttnRange& operator[](size_t i) const { return ranges_[i]; }
  auto begin() const { return ranges_.begin(); }
  auto end() const { return ranges_.end(); }
  void push_back(AttnRange r) { ranges_.push_back(r); }

  /// Sum of lengths (overlaps counted twice).
  int64_t total_size() const;
  /// Smallest start / largest end; {0,0} when empty.
  AttnRange hull() const;
  /// Stable sort by (start, end).
  AttnRanges sorted() const;
  /// Sorted union; ranges that overlap or touch are fused; empty ranges dropped.
  AttnRanges merged() const;
  bool is_merged() const;
  /// Set intersection with `other` (result merged).
  AttnRanges intersect(const AttnRanges& other) const;
  /// Set difference self - other, the "holes" of other in self (result merged).
  AttnRanges subtract(const AttnRanges& other) const;
  /// Cuts the ranges, in order, into groups of exactly `chunk_size` tokens (the last one may
  /// be smaller). Requires non-overlapping ranges.
  std::vector<AttnRanges> chunk(int64_t chunk_size) const;

  /// Local coordinates in the compact buffer that stores this (merged) set contiguously in
  /// ascending order. Throws if `global` does not lie inside one piece.
  AttnRange to_local(AttnRange global) const;
  AttnRanges to_local(const AttnRanges& global) const;

  friend bool operator==(const AttnRanges&, const AttnRanges&) = default;

 private:
  std::vector<AttnRange> ranges_;
};

std::string to_string(const AttnRanges& r);

/// Mask types with the integer codes used everywhere (kernels, Python, JSON).
enum class AttnMaskType : int32_t { kFull = 0, kCausal = 1, kInvCausal = 2, kBiCausal = 3 };

/// "full", "causal", "inv_causal", "bi_causal".
std::string_view to_string(AttnMaskType t);
/// Throws, naming the value, for anything but the four strings above.
AttnMaskType mask_type_from_string(std::string_view s);
/// Throws, naming the value, for anything but 0..3.
AttnMaskType mask_type_from_int(int64_t v);

/// One rectangle of the mask with its diagonal constraint.
struct AttnSlice {
  AttnRange q;
  AttnRange k;
  AttnMaskType type = AttnMaskType::kFull;

  /// Keys seen by query row `row` (must lie in q): [lo, hi), possibly empty.
  AttnRange row_keys(int64_t row) const;
  /// Exact number of cells.
  int64_t area() const;
  /// Same cells moved by dq rows and dk columns.
  AttnSlice translated(int64_t dq, int64_t dk) const { return {q.offset(dq), k.offset(dk), type}; }
  friend bool operator==(const AttnSlice&, const AttnSlice&) = default;
};

std::string to_string(const AttnSlice& s);

/// Throws unless every slice has valid ranges inside [0, total_q) x [0, total_k).
void check_slices(std::span<const AttnSlice> slices, int64_t total_q, int64_t total_k);

/// The cells of `s` with q in `rows` and k in `cols`, as at most three slices (none empty).
std::vector<AttnSlice> clip(const AttnSlice& s, AttnRange rows, AttnRange cols);
/// clip() to rows only.
std::vector<AttnSlice> clip_rows(const AttnSlice& s, AttnRange rows);

/// The union of the slices' cells as slices that share no cell, sorted by q start. Slices
/// that overlap no other slice come back unchanged (except empty ones, which are dropped);
/// the cost of the check is small when q ranges overlap but cells do not.
std::vector<AttnSlice> make_disjoint(std::span<const AttnSlice> slices);

/// Exact number of cells in the union of the slices.
int64_t union_area(std::span<const AttnSlice> slices);

/// The mask with rows and columns swapped: (k, q) is a cell of the result iff (q, k) is a cell
/// of `slices` (its q ranges index the keys, its k ranges the queries). The result's slices
/// share no cell. Cross-attention balances K/V chunks by the cells in their columns this way.
std::vector<AttnSlice> transpose_mask(std::span<const AttnSlice> slices);

}  // namespace magi
