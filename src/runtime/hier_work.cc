#include "runtime/hier_work.h"

#include <algorithm>

namespace magi::runtime {

HierWork::HierWork(const HierRankPlan& plan, int64_t shard) {
  int64_t relayed = 0, delivered = 0;
  for (const HierStagePlan& st : plan.stages) {
    relayed += st.inter.num_recv();
    delivered += st.intra.num_recv();
  }
  rows = shard + relayed + delivered;
  int64_t relayed_at = shard, delivered_at = shard + relayed;
  for (const HierStagePlan& st : plan.stages) {
    HierStageWork w;
    w.relayed_at = relayed_at;
    w.delivered_at = delivered_at;
    relayed_at += st.inter.num_recv();
    delivered_at += st.intra.num_recv();
    // Assemble rows below `split` are relayed rows of stages 0..s (holdings row shard + x); the
    // rest are this stage's intra.recv rows. NOTE: a range may straddle the split (the planner
    // fuses contiguous pieces), so it is cut there.
    const int64_t split = relayed_at - shard;
    std::vector<AttnRange> assemble;
    for (AttnRange r : st.assemble) {
      if (r.start < split) {
        const int64_t end = std::min(r.end, split);
        assemble.push_back({shard + r.start, shard + end});
        r.start = end;
      }
      if (!r.empty()) {
        assemble.push_back({w.delivered_at + r.start - split, w.delivered_at + r.end - split});
      }
    }
    w.inter_send = RangeList(st.inter.send_rows.items());
    w.intra_send = RangeList(st.intra.send_rows.items());
    w.assemble = RangeList(std::move(assemble));
    stages.push_back(std::move(w));
  }
}

}  // namespace magi::runtime
