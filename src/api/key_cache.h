// The per-group LRU cache of runtimes. Per group, so that eviction in one group never makes
// the ranks of another disagree about what is cached.
#pragma once

#include <memory>

#include "magi/dist_attn.h"

namespace magi::api {

/// Capacity per group: MAGI_ATTENTION_DIST_ATTN_RUNTIME_DICT_SIZE (default 1000).
std::shared_ptr<const DistAttnRuntime> cache_find(const DistAttnKey& key);
void cache_insert(const std::shared_ptr<const DistAttnRuntime>& rt);

}  // namespace magi::api
