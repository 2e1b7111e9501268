#include <algorithm>
#include <sstream>

#include "magi/check.h"
#include "magi/mask.h"

namespace magi {

void check_range(AttnRange r, std::string_view what, int64_t limit) {
  MAGI_CHECK(r.start >= 0, what, " = ", to_string(r), ": start must be >= 0");
  MAGI_CHECK(r.start <= r.end, what, " = ", to_string(r), ": start must be <= end");
  MAGI_CHECK(limit < 0 || r.end <= limit, what, " = ", to_string(r), ": end exceeds the total ",
             limit);
}

std::string to_string(AttnRange r) {
  return "[" + std::to_string(r.start) + ", " + std::to_string(r.end) + ")";
}

std::string to_string(const AttnRanges& rs) {
  std::string s = "[";
  for (size_t i = 0; i < rs.size(); ++i) s += (i ? ", " : "") + to_string(rs[i]);
  return s + "]";
}

AttnRanges AttnRanges::from_cu_seqlens(std::span<const int64_t> cu, int64_t total) {
  MAGI_CHECK(!cu.empty() && cu.front() == 0, "cu_seqlens must start with 0");
  MAGI_CHECK(cu.back() == total, "cu_seqlens must end with the total ", total, ", got ", cu.back());
  AttnRanges out;
  for (size_t i = 0; i + 1 < cu.size(); ++i) {
    MAGI_CHECK(cu[i] < cu[i + 1], "cu_seqlens must increase strictly, got ", cu[i], " then ",
               cu[i + 1], " at index ", i);
    out.push_back({cu[i], cu[i + 1]});
  }
  return out;
}

int64_t AttnRanges::total_size() const {
  int64_t n = 0;
  for (const AttnRange& r : ranges_) n += r.size();
  return n;
}

AttnRange AttnRanges::hull() const {
  if (ranges_.empty()) return {};
  AttnRange h = ranges_.front();
  for (const AttnRange& r : ranges_) {
    h.start = std::min(h.start, r.start);
    h.end = std::max(h.end, r.end);
  }
  return h;
}

AttnRanges AttnRanges::sorted() const {
  std::vector<AttnRange> v = ranges_;
  std::stable_sort(v.begin(), v.end());
  return AttnRanges(std::move(v));
}

AttnRanges AttnRanges::merged() const {
  std::vector<AttnRange> v;
  for (const AttnRange& r : sorted()) {
    if (r.empty()) continue;
    if (!v.empty() && r.start <= v.back().end) {
      v.back().end = std::max(v.back().end, r.end);
    } else {
      v.push_back(r);
    }
  }
  return AttnRanges(std::move(v));
}

bool AttnRanges::is_merged() const {
  for (size_t i = 0; i < ranges_.size(); ++i) {
    if (ranges_[i].empty()) return false;
    if (i && ranges_[i - 1].end >= ranges_[i].start) return false;
  }
  return true;
}

AttnRanges AttnRanges::intersect(const AttnRanges& other) const {
  const AttnRanges a = merged(), b = other.merged();
  std::vector<AttnRange> v;
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const AttnRange x = a[i].intersect(b[j]);
    if (!x.empty()) v.push_back(x);
    (a[i].end < b[j].end) ? ++i : ++j;
  }
  return AttnRanges(std::move(v));
}

AttnRanges AttnRanges::subtract(const AttnRanges& other) const {
  const AttnRanges a = merged(), b = other.merged();
  std::vector<AttnRange> v;
  size_t j = 0;
  for (AttnRange r : a) {
    while (j < b.size() && b[j].end <= r.start) ++j;
    int64_t cur = r.start;
    for (size_t t = j; t < b.size() && b[t].start < r.end; ++t) {
      if (b[t].start > cur) v.push_back({cur, b[t].start});
      cur = std::max(cur, b[t].end);
    }
    if (cur < r.end) v.push_back({cur, r.end});
  }
  return AttnRanges(std::move(v));
}

std::vector<AttnRanges> AttnRanges::chunk(int64_t chunk_size) const {
  MAGI_CHECK(chunk_size > 0, "chunk_size = ", chunk_size, ": must be > 0");
  MAGI_CHECK(merged().total_size() == total_size(), "chunk(): ranges overlap: ", to_string(*this));
  std::vector<AttnRanges> out;
  AttnRanges cur;
  int64_t room = chunk_size;
  for (AttnRange r : ranges_) {
    while (!r.empty()) {
      const int64_t take = std::min(room, r.size());
      cur.push_back({r.start, r.start + take});
      r.start += take;
      room -= take;
      if (room == 0) {
        out.push_back(std::move(cur));
        cur = AttnRanges();
        room = chunk_size;
      }
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

AttnRange AttnRanges::to_local(AttnRange global) const {
  int64_t offset = 0;
  for (const AttnRange& r : ranges_) {
    if (r.start <= global.start && global.end <= r.end) {
      return global.offset(offset - r.start);
    }
    offset += r.size();
  }
  MAGI_FAIL("to_local: ", to_string(global), " is not inside one piece of ", to_string(*this));
}

AttnRanges AttnRanges::to_local(const AttnRanges& global) const {
  AttnRanges out;
  for (const AttnRange& g : global) out.push_back(to_local(g));
  return out;
}

}  // namespace magi
