#include "runtime/rank_work.h"

#include <algorithm>

namespace magi::runtime {
namespace {

std::vector<StageWork> stages_of(const RankPlan& rp, int64_t shard) {
  std::vector<StageWork> out;
  out.reserve(rp.stages.size());
  for (const StagePlan& st : rp.stages) {
    const int64_t local_rows = st.reads_local ? shard : 0;
    out.push_back({FfaWork(st.slices, shard, local_rows + st.num_recv()), local_rows,
                   RangeList(st.send_rows.items())});
  }
  return out;
}

// The gathered buffer holds the chunks in perm order, back to back (a short last chunk, with
// uneven shards, sits wherever its rank's rows are).
std::vector<AttnRange> chunk_order(const DispatchMeta& d, int64_t total) {
  std::vector<int64_t> offset(static_cast<size_t>(d.num_chunks()));
  int64_t at = 0;
  for (int64_t c : d.perm) {
    offset[c] = at;
    at += d.chunk_rows(c).size();
  }
  std::vector<AttnRange> order;
  for (int64_t c = 0; c < d.num_chunks() && c * d.chunk_size < total; ++c) {
    const int64_t rows = std::min(d.chunk_rows(c).end, total) - c * d.chunk_size;
    order.push_back({offset[c], offset[c] + rows});
  }
  return order;
}

}  // namespace

RankWork::RankWork(const Plan& plan, const HierPlan* hier_plan, int64_t total_seqlen_q)
    : shard(plan.dispatch.shard_seqlen(plan.ranks.front().rank)),
      shards(plan.dispatch.shard_seqlens()),
      host(plan.ranks.front().host_slices, shard, shard),
      stages(stages_of(plan.ranks.front(), shard)),
      all_local({{0, shard}}),
      dispatch_rows(
          plan.ranks.front().host_ranges.intersect(AttnRanges{{0, total_seqlen_q}}).items()),
      undispatch_send(
          std::vector<AttnRange>(static_cast<size_t>(plan.dispatch.cp_size), AttnRange{0, shard})),
      undispatch_order(chunk_order(plan.dispatch, total_seqlen_q)) {
  if (hier_plan != nullptr) hier.emplace(hier_plan->ranks.front(), shard);
}

}  // namespace magi::runtime
