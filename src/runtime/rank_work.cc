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

DispatchRows::DispatchRows(const DispatchMeta& d, int64_t rank, int64_t total)
    : dispatch_rows(d.host_ranges(rank).intersect(AttnRanges{{0, total}}).items()),
      undispatch_send(
          std::vector<AttnRange>(static_cast<size_t>(d.cp_size), AttnRange{0, d.shard_seqlen()})),
      undispatch_order(chunk_order(d, total)) {}

RankWork::RankWork(const Plan& plan, int64_t total_seqlen_q, int64_t total_seqlen_k)
    : host(plan.ranks.front().host_slices, plan.dispatch.shard_seqlen(),
           plan.dispatch_kv.shard_seqlen()),
      stages(stages_of(plan.ranks.front(), plan.dispatch.shard_seqlen())),
      q_rows(plan.dispatch, plan.ranks.front().rank, total_seqlen_q),
      kv_rows(plan.dispatch_kv, plan.ranks.front().rank, total_seqlen_k) {
  const RankPlan& rp = plan.ranks.front();
  if (plan.degree == 0) {
    const int64_t shard_q = plan.dispatch.shard_seqlen(),
                  shard_kv = plan.dispatch_kv.shard_seqlen();
    const int64_t recv = rp.stages.front().num_recv();
    merged.emplace(rp.merged_slices, shard_q, shard_kv + recv);
    concat_local = RangeList({{0, shard_kv}});
    concat_remote = RangeList({{0, recv}});
  }
}

}  // namespace magi::runtime
