#include "api/key_cache.h"

#include <list>
#include <map>
#include <mutex>
#include <unordered_map>

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

struct Cache {
  std::mutex mu;
  std::map<std::string, GroupCache> groups;
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
  auto g = c.groups.find(key.group);
  if (g == c.groups.end()) return nullptr;
  auto it = g->second.index.find(key);
  if (it == g->second.index.end()) return nullptr;
  g->second.lru.splice(g->second.lru.begin(), g->second.lru, it->second);
  return *it->second;
}

void cache_insert(const std::shared_ptr<const DistAttnRuntime>& rt) {
  Cache& c = cache();
  std::lock_guard lock(c.mu);
  GroupCache& g = c.groups[rt->key().group];
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
