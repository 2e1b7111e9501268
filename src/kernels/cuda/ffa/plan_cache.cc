#include "kernels/cuda/ffa/plan_cache.h"

#include <cuda_runtime_api.h>

#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/ffa/launch.h"
#include "kernels/cuda/ffa/work_list.h"

namespace magi::cuda {
namespace {

struct Entry {
  std::vector<int64_t> key;
  int device = 0;
  void* buffer = nullptr;
  DevicePlan plan;
};

constexpr size_t kMaxEntries = 4096;

std::mutex g_mu;
std::unordered_multimap<uint64_t, Entry> g_cache;

void make_key(std::span<const AttnSlice> slices, int64_t total_q, int64_t total_k, PlanKind kind,
              int block, int device, std::vector<int64_t>& key) {
  key.clear();
  key.reserve(6 + 5 * slices.size());
  key.insert(key.end(), {static_cast<int64_t>(kind), block, device, total_q, total_k,
                         static_cast<int64_t>(slices.size())});
  for (const AttnSlice& s : slices) {
    key.insert(key.end(), {s.q.start, s.q.end, s.k.start, s.k.end, static_cast<int64_t>(s.type)});
  }
}

uint64_t hash_key(const std::vector<int64_t>& key) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a over 64-bit words, then a final mix
  for (int64_t x : key) {
    h ^= static_cast<uint64_t>(x);
    h *= 0x100000001b3ull;
    h ^= h >> 29;
  }
  return h;
}

Entry build(std::span<const AttnSlice> slices, int64_t total_q, int64_t total_k, PlanKind kind,
            int block, int device, std::vector<int64_t> key) {
  const std::vector<AttnSlice> disjoint = make_disjoint(slices);
  const WorkList wl = kind == PlanKind::kForward
                          ? build_fwd_work(disjoint, total_q, block)
                          : build_bwd_work(disjoint, total_k, block, kBwdBlockM);
  const size_t items_bytes = wl.items.size() * sizeof(FfaWorkItem);
  const size_t segs_bytes = wl.segs.size() * sizeof(FfaSegment);
  std::vector<unsigned char> host(items_bytes + segs_bytes + 16);
  if (items_bytes) std::memcpy(host.data(), wl.items.data(), items_bytes);
  if (segs_bytes) std::memcpy(host.data() + items_bytes, wl.segs.data(), segs_bytes);
  Entry e;
  e.key = std::move(key);
  e.device = device;
  MAGI_CUDA_CHECK(cudaMalloc(&e.buffer, host.size()));
  MAGI_CUDA_CHECK(cudaMemcpy(e.buffer, host.data(), host.size(), cudaMemcpyHostToDevice));
  auto* base = static_cast<unsigned char*>(e.buffer);
  e.plan.items = reinterpret_cast<const FfaWorkItem*>(base);
  e.plan.segs = reinterpret_cast<const FfaSegment*>(base + items_bytes);
  e.plan.num_items = static_cast<int32_t>(wl.items.size());
  e.plan.disjoint_blocks = wl.disjoint_blocks;
  return e;
}

void clear_locked() {
  int cur = 0;
  MAGI_CUDA_CHECK(cudaGetDevice(&cur));
  for (auto& [h, e] : g_cache) {
    MAGI_CUDA_CHECK(cudaSetDevice(e.device));
    MAGI_CUDA_CHECK(cudaDeviceSynchronize());
    MAGI_CUDA_CHECK(cudaFree(e.buffer));
  }
  MAGI_CUDA_CHECK(cudaSetDevice(cur));
  g_cache.clear();
}

}  // namespace

DevicePlan get_plan(std::span<const AttnSlice> slices, int64_t total_q, int64_t total_k,
                    PlanKind kind, int block) {
  int device = 0;
  MAGI_CUDA_CHECK(cudaGetDevice(&device));
  thread_local std::vector<int64_t> key;
  make_key(slices, total_q, total_k, kind, block, device, key);
  const uint64_t h = hash_key(key);
  std::lock_guard<std::mutex> lock(g_mu);
  auto [lo, hi] = g_cache.equal_range(h);
  for (auto it = lo; it != hi; ++it) {
    if (it->second.key == key) return it->second.plan;
  }
  if (g_cache.size() >= kMaxEntries) clear_locked();
  Entry e = build(slices, total_q, total_k, kind, block, device, key);
  const DevicePlan plan = e.plan;
  g_cache.emplace(h, std::move(e));
  return plan;
}

void clear_plan_cache() {
  std::lock_guard<std::mutex> lock(g_mu);
  clear_locked();
}

}  // namespace magi::cuda
