#include "plan/layout.h"

#include <algorithm>

#include "magi/check.h"

namespace magi::plan {

RowIndex::RowIndex(std::span<const AttnSlice> slices, int64_t total_rows, int64_t chunk_size)
    : slices_(make_disjoint(slices)), chunk_size_(chunk_size) {
  MAGI_CHECK(chunk_size > 0, "chunk_size = ", chunk_size, ": must be > 0");
  by_chunk_.resize(static_cast<size_t>((total_rows + chunk_size - 1) / chunk_size));
  for (size_t i = 0; i < slices_.size(); ++i) {
    const AttnRange q = slices_[i].q;
    const int64_t first = q.start / chunk_size_;
    const int64_t last =
        std::min<int64_t>((q.end - 1) / chunk_size_, static_cast<int64_t>(by_chunk_.size()) - 1);
    for (int64_t c = first; c <= last; ++c) by_chunk_[c].push_back(static_cast<int32_t>(i));
  }
}

std::vector<AttnSlice> RowIndex::select(const AttnRanges& rows) const {
  std::vector<AttnSlice> out;
  std::vector<int64_t> seen(slices_.size(), -1);  // last rows piece each slice was clipped to
  int64_t local = 0;
  for (size_t p = 0; p < rows.size(); ++p) {
    const AttnRange r = rows[p];
    const int64_t first = r.start / chunk_size_, last = (r.end - 1) / chunk_size_;
    for (int64_t c = first; c <= last && c < static_cast<int64_t>(by_chunk_.size()); ++c) {
      for (int32_t id : by_chunk_[c]) {
        if (seen[id] == static_cast<int64_t>(p)) continue;
        seen[id] = static_cast<int64_t>(p);
        for (const AttnSlice& piece : clip_rows(slices_[id], r)) {
          out.push_back(piece.translated(local - r.start, 0));
        }
      }
    }
    local += r.size();
  }
  return out;
}

std::vector<AttnSlice> map_keys(std::span<const AttnSlice> slices, const AttnRanges& layout) {
  struct Piece {
    AttnRange global;
    int64_t offset;  // buffer row of global.start
  };
  std::vector<Piece> pieces;
  int64_t offset = 0;
  for (const AttnRange& g : layout) {
    if (!g.empty()) pieces.push_back({g, offset});
    offset += g.size();
  }
  std::sort(pieces.begin(), pieces.end(),
            [](const Piece& a, const Piece& b) { return a.global.start < b.global.start; });
  std::vector<AttnSlice> out;
  for (const AttnSlice& s : slices) {
    auto it = std::upper_bound(pieces.begin(), pieces.end(), s.k.start,
                               [](int64_t x, const Piece& p) { return x < p.global.end; });
    for (; it != pieces.end() && it->global.start < s.k.end; ++it) {
      for (const AttnSlice& piece : clip(s, s.q, it->global)) {
        out.push_back(piece.translated(0, it->offset - it->global.start));
      }
    }
  }
  return out;
}

namespace {

bool joinable(AttnMaskType left, AttnMaskType right) {
  const bool l_open = left == AttnMaskType::kFull || left == AttnMaskType::kInvCausal;
  const bool r_open = right == AttnMaskType::kFull || right == AttnMaskType::kCausal;
  return l_open && r_open;
}

AttnMaskType joined(AttnMaskType left, AttnMaskType right) {
  const bool lower = left == AttnMaskType::kInvCausal, upper = right == AttnMaskType::kCausal;
  return lower && upper ? AttnMaskType::kBiCausal
         : upper        ? AttnMaskType::kCausal
         : lower        ? AttnMaskType::kInvCausal
                        : AttnMaskType::kFull;
}

}  // namespace

std::vector<AttnSlice> coalesce(std::vector<AttnSlice> slices) {
  std::sort(slices.begin(), slices.end(), [](const AttnSlice& a, const AttnSlice& b) {
    return a.q != b.q ? a.q < b.q : a.k.start < b.k.start;
  });
  std::vector<AttnSlice> out;
  for (const AttnSlice& s : slices) {
    if (!out.empty()) {
      AttnSlice& last = out.back();
      // NOTE: the joined slice restricted to either part's columns lies inside that part, so
      // equal areas prove the union is exact (e.g. a CAUSAL part whose top rows are empty
      // must not be joined to a FULL part on its left).
      if (last.q == s.q && last.k.end == s.k.start && joinable(last.type, s.type)) {
        const AttnSlice j{s.q, {last.k.start, s.k.end}, joined(last.type, s.type)};
        if (j.area() == last.area() + s.area()) {
          last = j;
          continue;
        }
      }
    }
    out.push_back(s);
  }
  return out;
}

int64_t total_area(std::span<const AttnSlice> slices) {
  int64_t n = 0;
  for (const AttnSlice& s : slices) n += s.area();
  return n;
}

}  // namespace magi::plan
