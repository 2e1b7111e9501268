#include "kernels/cpu/row_keys.h"

#include <algorithm>

#include "mask/band.h"

namespace magi::cpu {
namespace {

bool by_start(const AttnRange& a, const AttnRange& b) { return a.start < b.start; }

/// Sorts and fuses overlapping or touching intervals in place; returns the new size.
size_t coalesce(AttnRange* first, AttnRange* last) {
  if (first == last) return 0;
  std::sort(first, last, by_start);
  AttnRange* out = first;
  for (AttnRange* it = first + 1; it != last; ++it) {
    if (it->start <= out->end) {
      out->end = std::max(out->end, it->end);
    } else {
      *++out = *it;
    }
  }
  return static_cast<size_t>(out - first) + 1;
}

}  // namespace

RowKeys RowKeys::build(std::span<const AttnSlice> slices, int64_t total_q) {
  std::vector<mask::Band> bands;
  for (const AttnSlice& s : slices) bands.push_back(mask::Band::from_slice(s));

  RowKeys rk;
  std::vector<int64_t> count(static_cast<size_t>(total_q) + 1, 0);
  for (const mask::Band& b : bands) {
    for (int64_t q = b.q.start; q < b.q.end; ++q) count[q] += !b.row_keys(q).empty();
  }
  rk.offsets_.assign(static_cast<size_t>(total_q) + 1, 0);
  for (int64_t q = 0; q < total_q; ++q) rk.offsets_[q + 1] = rk.offsets_[q] + count[q];
  rk.keys_.resize(static_cast<size_t>(rk.offsets_[total_q]));
  std::vector<int64_t> fill(rk.offsets_.begin(), rk.offsets_.end() - 1);
  for (const mask::Band& b : bands) {
    for (int64_t q = b.q.start; q < b.q.end; ++q) {
      const AttnRange r = b.row_keys(q);
      if (!r.empty()) rk.keys_[fill[q]++] = r;
    }
  }
  // NOTE: fusing each row's overlapping intervals is what makes a cell covered by several
  // slices count once (union semantics); fusing touching ones keeps the lists short. This
  // needs no make_disjoint: a row holds at most as many intervals as slices cover it.
  // Compact in place, row by row.
  int64_t write = 0;
  for (int64_t q = 0; q < total_q; ++q) {
    AttnRange* first = rk.keys_.data() + rk.offsets_[q];
    const size_t n = coalesce(first, rk.keys_.data() + rk.offsets_[q + 1]);
    if (first != rk.keys_.data() + write) std::copy(first, first + n, rk.keys_.data() + write);
    rk.offsets_[q] = write;
    write += static_cast<int64_t>(n);
  }
  rk.offsets_[total_q] = write;
  rk.keys_.resize(static_cast<size_t>(write));
  return rk;
}

int64_t RowKeys::cells(int64_t row) const {
  int64_t n = 0;
  for (const AttnRange& r : this->row(row)) n += r.size();
  return n;
}

void BlockCols::build(const RowKeys& keys, int64_t row0, int n) {
  scratch_.clear();
  for (int i = 0; i < n; ++i) {
    for (const AttnRange& r : keys.row(row0 + i)) scratch_.push_back(r);
  }
  scratch_.resize(coalesce(scratch_.data(), scratch_.data() + scratch_.size()));
  segments_.clear();
  cols_ = 0;
  for (const AttnRange& r : scratch_) {
    segments_.push_back({r.start, r.end, cols_});
    cols_ += r.size();
  }
  if (static_cast<int>(row_cols_.size()) < n) row_cols_.resize(n);
  for (int i = 0; i < n; ++i) {
    row_cols_[i].clear();
    for (const AttnRange& r : keys.row(row0 + i)) {
      // The segment holding r: the last one starting at or before r.start.
      const auto it = std::upper_bound(segments_.begin(), segments_.end(), r.start,
                                       [](int64_t x, const Segment& s) { return x < s.start; });
      const Segment& s = *(it - 1);
      const int64_t c = s.col + (r.start - s.start);
      row_cols_[i].push_back({c, c + r.size()});
    }
  }
}

}  // namespace magi::cpu
