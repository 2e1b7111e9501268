// Work lists on the device, built once per distinct (mask, shapes, direction) and cached, so
// a repeated call costs one hash and one lookup on the host.
#pragma once

#include <cstdint>
#include <span>

#include "kernels/cuda/ffa/params.h"
#include "magi/mask.h"

namespace magi::cuda {

enum class PlanKind : int32_t { kForward = 0, kBackward = 1 };

struct DevicePlan {
  const FfaWorkItem* items = nullptr;  // device
  const FfaSegment* segs = nullptr;    // device
  int32_t num_items = 0;
  bool disjoint_blocks = true;  // WorkList::disjoint_blocks
};

/// The plan for `slices` (any slice list: normalised with make_disjoint on a miss) on the
/// current CUDA device. Thread-safe; the returned plan lives until clear_plan_cache().
DevicePlan get_plan(std::span<const AttnSlice> slices, int64_t total_q, int64_t total_k,
                    PlanKind kind, int block);

/// Frees every cached plan (synchronises the devices that hold them).
void clear_plan_cache();

}  // namespace magi::cuda
