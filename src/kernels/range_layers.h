// Layers of a range list for a scatter-add in list order: ranges may overlap (a row sent to
// several ranks comes back from each), and a device that adds the whole list at once (atomics)
// adds a row's contributions in any order. Added layer by layer, in layer order, with the
// ranges of one layer disjoint, every row receives its contributions in list order.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "magi/mask.h"

namespace magi {

/// layer[i] of range i: 0 for a range no earlier range overlaps, else one more than the
/// highest layer among the earlier ranges it overlaps. Ranges of one layer are disjoint; of two
/// overlapping ranges the earlier has the lower layer. Empty ranges get layer 0. O(n log n).
std::vector<int64_t> disjoint_layers(std::span<const AttnRange> ranges);

}  // namespace magi
