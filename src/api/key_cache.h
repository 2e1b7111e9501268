// The LRU cache of runtimes, one per group and rank, so that eviction never makes ranks disagree
// about what is cached (each rank evicts by its own calls, which every rank of the group makes).
#pragma once

#include <memory>

#include "magi/dist_attn.h"

namespace magi::api {

/// Capacity per group and rank: MAGI_ATTENTION_DIST_ATTN_RUNTIME_DICT_SIZE (default 1000).
std::shared_ptr<const DistAttnRuntime> cache_find(const DistAttnKey& key);
void cache_insert(const std::shared_ptr<const DistAttnRuntime>& rt);

}  // namespace magi::api
