// Up-front resource checks: a request that cannot fit this machine fails at once with a clear
// message instead of std::bad_alloc or the OOM killer minutes later.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "magi/mask.h"

namespace magi::cli {

/// Bytes of memory this process can still get: the smaller of /proc/meminfo's MemAvailable and
/// the cgroup limit minus usage; 0 when neither is known.
double available_memory_bytes();

/// Throws UsageError "<what> needs about X GiB of memory, Y GiB are available" when `bytes` is
/// more than 90% of available_memory_bytes() (no check when that is unknown).
void check_memory(double bytes, const std::string& what);

/// Memory of planning `slices` in chunks of `chunk` tokens over `cp` ranks, with
/// `ranks_at_once` ranks planned at the same time (an estimate on the high side). The planner
/// cuts every slice at chunk boundaries on both axes before it coalesces the pieces, so its peak
/// grows with the (q chunk, k chunk) pairs of the slices' bounding boxes.
double plan_bytes(const std::vector<AttnSlice>& slices, int64_t chunk, int64_t cp,
                  int64_t ranks_at_once);

}  // namespace magi::cli
