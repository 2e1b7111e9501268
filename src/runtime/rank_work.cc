#include "runtime/rank_work.h"

#include <algorithm>

namespace magi::runtime {
namespace {

// q: the shard_q local rows; k: the stage buffer ([the shard_kv local K/V rows;] received).
std::vector<StageWork> stages_of(const RankPlan& rp, int64_t shard_q, int64_t shard_kv) {
  std::vector<StageWork> out;
  out.reserve(rp.stages.size());
  for (const StagePlan& st : rp.stages) {
    const int64_t local_rows = st.reads_local ? shard_kv : 0;
    out.push_back({FfaWork(st.slices, shard_q, local_rows + st.num_recv()), local_rows,
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

DispatchRows::DispatchRows(const DispatchMeta& d, int64_t rank, int64_t total)
    : shard(d.shard_seqlen(rank)),
      shards(d.shard_seqlens()),
      dispatch_rows(d.host_ranges(rank).intersect(AttnRanges{{0, total}}).items()),
      undispatch_send(std::vector<AttnRange>(static_cast<size_t>(d.cp_size), AttnRange{0, shard})),
      undispatch_order(chunk_order(d, total)) {}

RankWork::RankWork(const Plan& plan, const HierPlan* hier_plan, int64_t total_seqlen_q,
                   int64_t total_seqlen_k)
    : q_rows(plan.dispatch, plan.ranks.front().rank, total_seqlen_q),
      kv_rows(plan.dispatch_kv, plan.ranks.front().rank, total_seqlen_k),
      host(plan.ranks.front().host_slices, q_rows.shard, kv_rows.shard),
      stages(stages_of(plan.ranks.front(), q_rows.shard, kv_rows.shard)),
      all_local_kv({{0, kv_rows.shard}}) {
  // The holdings start with the local K/V rows.
  if (hier_plan != nullptr) hier.emplace(hier_plan->ranks.front(), kv_rows.shard);
}

}  // namespace magi::runtime
