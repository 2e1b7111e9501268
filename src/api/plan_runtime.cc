#include "api/plan_runtime.h"

#include <utility>
#include <vector>

namespace magi::api {
namespace {

template <class T>
void keep_only(std::vector<T>& ranks, int64_t rank) {
  T mine = std::move(ranks[rank]);
  ranks.clear();
  ranks.push_back(std::move(mine));
}

}  // namespace

std::shared_ptr<const DistAttnRuntime> plan_runtime(DistAttnKey key,
                                                    std::span<const AttnSlice> slices,
                                                    const DispatchMeta& dispatch,
                                                    const DispatchMeta& dispatch_kv) {
  const OverlapConfig& overlap = key.config.overlap_config;
  const int64_t rank = key.cp_rank;
  if (!key.config.hier_mesh) {
    Plan plan = make_rank_plan(slices, dispatch, dispatch_kv, overlap, rank);
    return std::make_shared<const DistAttnRuntime>(std::move(key), std::move(plan));
  }
  Plan plan = make_plan(slices, dispatch, dispatch_kv, overlap);
  HierPlan hier = make_hier_plan(plan, *key.config.hier_mesh);
  keep_only(plan.ranks, rank);
  keep_only(hier.ranks, rank);
  return std::make_shared<const DistAttnRuntime>(std::move(key), std::move(plan), std::move(hier));
}

}  // namespace magi::api
