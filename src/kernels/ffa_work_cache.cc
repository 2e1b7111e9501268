#include "kernels/ffa_work_cache.h"

#include <list>
#include <mutex>
#include <vector>

namespace magi {
namespace {

constexpr size_t kCapacity = 64;

struct Entry {
  std::vector<AttnSlice> slices;  // as given (before make_disjoint)
  int64_t total_q, total_k;
  size_t hash;
  std::shared_ptr<const FfaWork> work;
};

struct Cache {
  std::mutex mu;
  std::list<Entry> lru;  // front: most recent
};

Cache& cache() {
  static Cache c;
  return c;
}

size_t hash_of(std::span<const AttnSlice> slices, int64_t total_q, int64_t total_k) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a over 64-bit words, with a final mix per word
  auto mix = [&h](int64_t x) {
    h ^= static_cast<uint64_t>(x);
    h *= 0x100000001b3ull;
    h ^= h >> 29;
  };
  mix(total_q);
  mix(total_k);
  for (const AttnSlice& s : slices) {
    for (int64_t x : {s.q.start, s.q.end, s.k.start, s.k.end, int64_t(s.type)}) mix(x);
  }
  return static_cast<size_t>(h);
}

}  // namespace

std::shared_ptr<const FfaWork> cached_ffa_work(std::span<const AttnSlice> slices, int64_t total_q,
                                               int64_t total_k) {
  const size_t h = hash_of(slices, total_q, total_k);
  Cache& c = cache();
  {
    std::lock_guard lock(c.mu);
    for (auto it = c.lru.begin(); it != c.lru.end(); ++it) {
      if (it->hash == h && it->total_q == total_q && it->total_k == total_k &&
          std::equal(slices.begin(), slices.end(), it->slices.begin(), it->slices.end())) {
        c.lru.splice(c.lru.begin(), c.lru, it);
        return it->work;
      }
    }
  }
  auto work = std::make_shared<const FfaWork>(slices, total_q, total_k);  // validates
  std::lock_guard lock(c.mu);
  c.lru.push_front({{slices.begin(), slices.end()}, total_q, total_k, h, work});
  // NOTE: an evicted work stays alive while a caller still holds it (shared_ptr).
  if (c.lru.size() > kCapacity) c.lru.pop_back();
  return work;
}

void clear_ffa_work_cache() {
  Cache& c = cache();
  std::list<Entry> dropped;
  {
    std::lock_guard lock(c.mu);
    dropped.swap(c.lru);
  }
}

}  // namespace magi
