// The prepared work of the slice-span FFA entries (ffa.h): a small LRU keyed by the slices'
// contents and the totals, so that repeated convenience calls do not prepare (on CUDA: upload)
// the mask again. It costs one hash of the slices per call; the FfaWork entries cost none.
#pragma once

#include <memory>
#include <span>

#include "magi/ffa.h"

namespace magi {

/// The cached work of (slices, total_q, total_k), made (and validated) on a miss.
std::shared_ptr<const FfaWork> cached_ffa_work(std::span<const AttnSlice> slices, int64_t total_q,
                                               int64_t total_k);

}  // namespace magi
