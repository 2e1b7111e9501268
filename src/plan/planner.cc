// make_plan: phase 1 decides, for every rank, which remote rows it needs and in which stage;
// phase 2 turns that into one rank's slices and transfer tables. A rank's send table depends
// on the other ranks' stages, which is why phase 1 always covers every rank.
#include <algorithm>
#include <optional>

#include "magi/check.h"
#include "magi/plan.h"
#include "plan/layout.h"
#include "plan/overlap_solver.h"

namespace magi {
namespace {

struct RankStages {
  std::vector<AttnSlice> slices;       // q: local rows; k: global rows
  std::vector<AttnRanges> stage_rows;  // per stage: global rows received (merged)
};

// The original's remote chunking: min_chunk_size tokens per chunk unless that makes more than
// max_num_chunks chunks.
int64_t remote_chunk_size(int64_t remote_tokens, const OverlapConfig& cfg) {
  const int64_t n = (remote_tokens + cfg.min_chunk_size - 1) / cfg.min_chunk_size;
  if (n <= cfg.max_num_chunks) return cfg.min_chunk_size;
  return (remote_tokens + cfg.max_num_chunks - 1) / cfg.max_num_chunks;
}

AttnRanges key_rows(std::span<const AttnSlice> slices) {
  AttnRanges ks;
  for (const AttnSlice& s : slices) ks.push_back(s.k);
  return ks.merged();
}

plan::OverlapCosts overlap_costs(std::span<const AttnSlice> slices, const AttnRanges& host,
                                 const std::vector<AttnRanges>& chunks, const OverlapConfig& cfg) {
  plan::OverlapCosts c;
  c.host_calc = cfg.calc_cost_factor * plan::total_area(plan::map_keys(slices, host));
  for (const AttnRanges& chunk : chunks) {
    c.comm.push_back(cfg.comm_cost_factor * chunk.total_size());
    c.calc.push_back(cfg.calc_cost_factor * plan::total_area(plan::map_keys(slices, chunk)));
  }
  return c;
}

// Global rows each rank holds: of q (`q`) and of K/V (`kv`; the same in self-attention).
struct Hosts {
  std::vector<AttnRanges> q, kv;
};

std::vector<RankStages> plan_stages(std::span<const AttnSlice> slices, const DispatchMeta& dispatch,
                                    const OverlapConfig& cfg, const Hosts& hosts, int64_t& degree) {
  const int64_t cp = dispatch.cp_size;
  const plan::RowIndex index(slices, dispatch.total_seqlen, dispatch.chunk_size);
  std::vector<RankStages> out(cp);
  std::vector<std::vector<AttnRanges>> chunks(cp);
  for (int64_t r = 0; r < cp; ++r) {
    out[r].slices = index.select(hosts.q[r]);
    const AttnRanges remote = key_rows(out[r].slices).subtract(hosts.kv[r]);
    if (!remote.empty()) chunks[r] = remote.chunk(remote_chunk_size(remote.total_size(), cfg));
  }

  const bool dynamic = cfg.effective_degree() != 0 && cfg.mode == AttnOverlapMode::kDynamic;
  const bool need_costs = dynamic || cfg.alg.type == OverlapAlgType::kGreedy;
  std::vector<plan::OverlapCosts> costs(cp);
  if (need_costs) {
    for (int64_t r = 0; r < cp; ++r) {
      costs[r] = overlap_costs(out[r].slices, hosts.kv[r], chunks[r], cfg);
    }
  } else {
    for (int64_t r = 0; r < cp; ++r) costs[r].comm.resize(chunks[r].size());
  }

  degree = cfg.effective_degree();
  if (dynamic) {
    // Every rank must run the same number of stages: take the largest degree any rank wants.
    degree = 1;
    for (int64_t r = 0; r < cp; ++r) {
      const int64_t n = static_cast<int64_t>(chunks[r].size());
      const int64_t max_degree = std::max<int64_t>(1, cfg.dynamic_max_degree.value_or(n));
      degree = std::max(degree, plan::best_degree(costs[r], max_degree, cfg.alg));
    }
  }
  for (int64_t r = 0; r < cp; ++r) {
    // Degree 0 fetches as degree 1 does (every remote chunk in one stage); plan_rank then
    // moves the host slices into that stage.
    const plan::Stages stages = plan::solve_stages(costs[r], std::max<int64_t>(degree, 1), cfg.alg);
    for (const auto& stage : stages) {
      AttnRanges rows;
      for (int64_t c : stage)
        for (const AttnRange& g : chunks[r][c]) rows.push_back(g);
      out[r].stage_rows.push_back(rows.merged());
    }
  }
  return out;
}

RankPlan plan_rank(int64_t me, const std::vector<RankStages>& all, const Hosts& hosts,
                   int64_t degree) {
  const int64_t cp = static_cast<int64_t>(hosts.kv.size());
  // Remote rows are K/V rows: they come from, and go to, the K/V owners.
  const AttnRanges& host = hosts.kv[me];
  RankPlan rp;
  rp.rank = me;
  rp.host_ranges = hosts.q[me];
  rp.kv_host_ranges = host;
  rp.host_slices = plan::coalesce(plan::map_keys(all[me].slices, host));
  rp.host_area = plan::total_area(rp.host_slices);
  for (size_t s = 0; s < all[me].stage_rows.size(); ++s) {
    StagePlan st;
    st.recv_counts.assign(cp, 0);
    st.send_counts.assign(cp, 0);
    for (int64_t src = 0; src < cp; ++src) {
      for (const AttnRange& g : all[me].stage_rows[s].intersect(hosts.kv[src])) {
        st.recv_global.push_back(g);
        st.recv_counts[src] += g.size();
      }
    }
    for (int64_t dst = 0; dst < cp; ++dst) {
      for (const AttnRange& g : all[dst].stage_rows[s].intersect(host)) {
        st.send_rows.push_back(host.to_local(g));
        st.send_counts[dst] += g.size();
      }
    }
    st.slices = plan::coalesce(plan::map_keys(all[me].slices, st.recv_global));
    rp.remote_area += plan::total_area(st.slices);
    rp.stages.push_back(std::move(st));
  }
  if (degree == 0) {
    // No overlap: one kernel call over k = [local; received] in the one stage, none in the host
    // stage, so the runtime runs degree 0 as any other degree.
    StagePlan& only = rp.stages.front();
    std::vector<AttnSlice> all = std::move(rp.host_slices);
    rp.host_slices.clear();
    for (const AttnSlice& sl : only.slices) all.push_back(sl.translated(0, host.total_size()));
    only.slices = std::move(all);
    only.reads_local = true;
  }
  return rp;
}

Plan make_plan_impl(std::span<const AttnSlice> slices, const DispatchMeta& dispatch,
                    const DispatchMeta& dispatch_kv, const OverlapConfig& overlap,
                    std::optional<int64_t> only) {
  overlap.validate();
  dispatch.validate();
  dispatch_kv.validate();
  const int64_t cp = dispatch.cp_size;
  MAGI_CHECK(dispatch_kv.cp_size == cp, "dispatch_kv.cp_size = ", dispatch_kv.cp_size,
             ": must equal the q dispatch's cp_size = ", cp);
  MAGI_CHECK(!only || (*only >= 0 && *only < cp), "rank = ", only.value_or(-1), ": must be in [0, ",
             cp, ")");
  check_slices(slices, dispatch.total_seqlen, dispatch_kv.total_seqlen);
  Hosts hosts{std::vector<AttnRanges>(cp), std::vector<AttnRanges>(cp)};
  for (int64_t r = 0; r < cp; ++r) {
    hosts.q[r] = dispatch.host_ranges(r);
    hosts.kv[r] = dispatch_kv.host_ranges(r);
  }

  Plan plan;
  plan.dispatch = dispatch;
  plan.dispatch_kv = dispatch_kv;
  const std::vector<RankStages> all = plan_stages(slices, dispatch, overlap, hosts, plan.degree);
  for (int64_t r = 0; r < cp; ++r) {
    if (!only || *only == r) plan.ranks.push_back(plan_rank(r, all, hosts, plan.degree));
  }
  return plan;
}

}  // namespace

int64_t RankPlan::num_recv() const {
  int64_t n = 0;
  for (const StagePlan& s : stages) n += s.num_recv();
  return n;
}

Plan make_plan(std::span<const AttnSlice> slices, const DispatchMeta& dispatch,
               const OverlapConfig& overlap) {
  return make_plan_impl(slices, dispatch, dispatch, overlap, std::nullopt);
}

Plan make_plan(std::span<const AttnSlice> slices, const DispatchMeta& dispatch,
               const DispatchMeta& dispatch_kv, const OverlapConfig& overlap) {
  return make_plan_impl(slices, dispatch, dispatch_kv, overlap, std::nullopt);
}

Plan make_rank_plan(std::span<const AttnSlice> slices, const DispatchMeta& dispatch,
                    const OverlapConfig& overlap, int64_t rank) {
  return make_plan_impl(slices, dispatch, dispatch, overlap, rank);
}

Plan make_rank_plan(std::span<const AttnSlice> slices, const DispatchMeta& dispatch,
                    const DispatchMeta& dispatch_kv, const OverlapConfig& overlap, int64_t rank) {
  return make_plan_impl(slices, dispatch, dispatch_kv, overlap, rank);
}

}  // namespace magi
