// Where global rows sit in a buffer assembled from pieces (rows of different sources back to
// back, not necessarily ascending). The pieces must hold disjoint global rows.
#pragma once

#include <cstdint>
#include <vector>

#include "magi/mask.h"

namespace magi::plan {

class RowLocator {
 public:
  /// Adds the ranges of `layout`, stored back to back from buffer row `base`.
  void add(const AttnRanges& layout, int64_t base);
  /// Appends to `out` the buffer rows holding `global`, in the order of `global`'s rows;
  /// contiguous buffer rows are fused with out's last range. Throws, naming `what` and the
  /// first missing row, if some row of `global` is not in the buffer.
  void locate(AttnRange global, std::vector<AttnRange>& out, const char* what) const;

 private:
  struct Piece {
    AttnRange global;
    int64_t offset;  // buffer row of global.start
  };
  std::vector<Piece> pieces_;  // sorted by global.start
};

}  // namespace magi::plan
