#include "api/key_cache.h"

#include <list>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "common/env.h"
#include "magi/check.h"

namespace magi::api {

struct KeyHash {
  size_t operator()(const DistAttnKey& k) const { return k.hash(); }
};

struct GroupCache {
  std::list<std::shared_ptr<const DistAttnRuntime>> lru;  // front = most recent
  std::unordered_map<DistAttnKey, decltype(lru)::iterator, KeyHash> index;
};

// NOTE: per group and rank: ranks that are threads of one process share this cache, and each
// must evict by its own call sequence alone (which every rank repeats), else one rank finds a
// key that another evicted, skips the key check's collective and pairs with the wrong exchange.
using RankOfGroup = std::pair<std::string, int64_t>;  // (group id, cp rank)

struct Cache {
  std::mutex mu;
  std::map<RankOfGroup, GroupCache> groups;
};

Cache& cache() {
  static Cache c;
  return c;
}

size_t capacity() {
  static const size_t cap = static_cast<size_t>(
      env::integer("MAGI_ATTENTION_DIST_ATTN_RUNTIME_DICT_SIZE", 1, int64_t{1} << 40));
  return cap;
}

std::shared_ptr<const DistAttnRuntime> cache_find(const DistAttnKey& key) {
  Cache& c = cache();
  std::lock_guard lock(c.mu);
  auto g = c.groups.find({key.group, key.cp_rank});
  if (g == c.groups.end()) return nullptr;
  auto it = g->second.index.find(key);
  if (it == g->second.index.end()) return nullptr;
  g->second.lru.splice(g->second.lru.begin(), g->second.lru, it->second);
  return *it->second;
}

void cache_insert(const std::shared_ptr<const DistAttnRuntime>& rt) {
  Cache& c = cache();
  std::lock_guard lock(c.mu);
  GroupCache& g = c.groups[{rt->key().group, rt->key().cp_rank}];
  if (g.index.count(rt->key())) return;
  g.lru.push_front(rt);
  g.index[rt->key()] = g.lru.begin();
  while (g.lru.size() > capacity()) {
    g.index.erase(g.lru.back()->key());
    g.lru.pop_back();
  }
}

}  // namespace magi::api

namespace magi {

void clear_key_cache() {
  api::Cache& c = api::cache();
  std::lock_guard lock(c.mu);
  c.groups.clear();
}

size_t key_cache_size() {
  api::Cache& c = api::cache();
  std::lock_guard lock(c.mu);
  size_t n = 0;
  for (const auto& [id, g] : c.groups) n += g.lru.size();
  return n;
}

}  // namespace magi
