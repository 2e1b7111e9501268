// The runtime of a new key on one rank: the key's plan for this rank and, when its config has a
// hier_mesh, the plan's two-level form.
#pragma once

#include <memory>
#include <span>

#include "magi/dist_attn.h"

namespace magi::api {

/// Plans key.cp_rank over `dispatch` (of q) and `dispatch_kv` (of K/V: `dispatch` itself in
/// self-attention; slices: the key's mask, unpadded rows). NOTE: a rank's two-level routing
/// depends on what every rank needs (a relay forwards other ranks' rows), so a hierarchical key
/// plans every rank and keeps its own: cp times the planning of a flat key.
std::shared_ptr<const DistAttnRuntime> plan_runtime(DistAttnKey key,
                                                    std::span<const AttnSlice> slices,
                                                    const DispatchMeta& dispatch,
                                                    const DispatchMeta& dispatch_kv);

}  // namespace magi::api
