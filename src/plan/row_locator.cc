#include "plan/row_locator.h"

#include <algorithm>

#include "magi/check.h"

namespace magi::plan {

void RowLocator::add(const AttnRanges& layout, int64_t base) {
  int64_t offset = base;
  for (const AttnRange& g : layout) {
    if (!g.empty()) pieces_.push_back({g, offset});
    offset += g.size();
  }
  std::sort(pieces_.begin(), pieces_.end(),
            [](const Piece& a, const Piece& b) { return a.global.start < b.global.start; });
}

void RowLocator::locate(AttnRange global, std::vector<AttnRange>& out, const char* what) const {
  int64_t row = global.start;
  auto it = std::upper_bound(pieces_.begin(), pieces_.end(), row,
                             [](int64_t x, const Piece& p) { return x < p.global.end; });
  while (row < global.end) {
    MAGI_CHECK(it != pieces_.end() && it->global.start <= row, what, ": global row ", row,
               " is not in the buffer");
    const int64_t end = std::min(global.end, it->global.end);
    const AttnRange b{it->offset + row - it->global.start, it->offset + end - it->global.start};
    if (!out.empty() && out.back().end == b.start) {
      out.back().end = b.end;
    } else {
      out.push_back(b);
    }
    row = end;
    ++it;
  }
}

}  // namespace magi::plan
