#include "runtime/rank_work.h"

#include <algorithm>

namespace magi::runtime {
namespace {

std::vector<StageWork> stages_of(const RankPlan& rp, int64_t shard) {
  std::vector<StageWork> out;
  out.reserve(rp.stages.size());
  for (const StagePlan& st : rp.stages) {
    out.push_back({FfaWork(st.slices, shard, st.num_recv()), RangeList(st.send_rows.items())});
  }
  return out;
}

std::vector<AttnRange> chunk_order(const DispatchMeta& d, int64_t total) {
  std::vector<AttnRange> order;
  for (int64_t c = 0; c < d.num_chunks() && c * d.chunk_size < total; ++c) {
    const int64_t rows = std::min(d.chunk_size, total - c * d.chunk_size);
    order.push_back({d.unperm[c] * d.chunk_size, d.unperm[c] * d.chunk_size + rows});
  }
  return order;
}

}  // namespace

RankWork::RankWork(const Plan& plan, int64_t total_seqlen_q)
    : host(plan.ranks.front().host_slices, plan.dispatch.shard_seqlen(),
           plan.dispatch.shard_seqlen()),
      stages(stages_of(plan.ranks.front(), plan.dispatch.shard_seqlen())),
      dispatch_rows(
          plan.ranks.front().host_ranges.intersect(AttnRanges{{0, total_seqlen_q}}).items()),
      undispatch_send(std::vector<AttnRange>(static_cast<size_t>(plan.dispatch.cp_size),
                                             AttnRange{0, plan.dispatch.shard_seqlen()})),
      undispatch_order(chunk_order(plan.dispatch, total_seqlen_q)) {
  const RankPlan& rp = plan.ranks.front();
  const int64_t shard = plan.dispatch.shard_seqlen();
  if (plan.degree == 0) {
    const int64_t recv = rp.stages.front().num_recv();
    merged.emplace(rp.merged_slices, shard, shard + recv);
    concat_local = RangeList({{0, shard}});
    concat_remote = RangeList({{0, recv}});
  }
}

}  // namespace magi::runtime
