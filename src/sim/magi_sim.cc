// simulate_magi: a Plan (optionally its hierarchical form) run through the cost model in the
// order the executor (src/runtime/executor.cc) issues work.
#include <algorithm>

#include "magi/check.h"
#include "magi/sim.h"
#include "sim/cost_model.h"

namespace magi::sim {
namespace {

using detail::Pass;
using detail::Traffic;
using detail::TypedCells;

TypedCells cells_of(const std::vector<AttnSlice>& slices) {
  TypedCells c{};
  detail::add_cells(slices, c);
  return c;
}

// Query rows a call touches: the union of its slices' q ranges.
int64_t q_rows(const std::vector<AttnSlice>& slices) {
  AttnRanges q;
  for (const AttnSlice& s : slices) q.push_back(s.q);
  return q.merged().total_size();
}

// One exchange level of one stage, every rank: its link time, and the collective's duration.
struct Level {
  std::vector<double> link;  // per rank
  double duration = 0;       // latency + slowest rank, or 0 when nothing moves

  void finish(bool moves, const ClusterDesc& c) {
    if (!moves) return;
    duration = c.latency_us * 1e-6 + *std::max_element(link.begin(), link.end());
  }
};

// Traffic of a flat stage table, rows of `row_bytes`; `reverse` swaps send and receive.
Traffic flat_traffic(const StagePlan& st, int64_t me, const ClusterDesc& c, double row_bytes,
                     bool reverse) {
  Traffic t;
  const int64_t cp = static_cast<int64_t>(st.send_counts.size());
  for (int64_t p = 0; p < cp; ++p) {
    const bool same = c.node(p) == c.node(me);
    const double out = static_cast<double>(reverse ? st.recv_counts[p] : st.send_counts[p]);
    const double in = static_cast<double>(reverse ? st.send_counts[p] : st.recv_counts[p]);
    (same ? t.send_intra : t.send_inter) += out * row_bytes;
    (same ? t.recv_intra : t.recv_inter) += in * row_bytes;
  }
  return t;
}

Traffic level_traffic(const ExchangeTable& ex, bool inter, double row_bytes, bool reverse) {
  const double out = static_cast<double>(reverse ? ex.num_recv() : ex.num_send()) * row_bytes;
  const double in = static_cast<double>(reverse ? ex.num_send() : ex.num_recv()) * row_bytes;
  Traffic t;
  (inter ? t.send_inter : t.send_intra) = out;
  (inter ? t.recv_inter : t.recv_intra) = in;
  return t;
}

}  // namespace

MethodResult simulate_magi(const Plan& plan, const HierPlan* hier, const ClusterDesc& c,
                           const AttnShape& shape) {
  c.validate();
  shape.validate();
  const int64_t cp = plan.cp_size();
  MAGI_CHECK(c.size() == cp, "cluster of ", c.nodes, " x ", c.gpus_per_node, " = ", c.size(),
             " GPUs, but the plan's cp_size = ", cp);
  MAGI_CHECK(static_cast<int64_t>(plan.ranks.size()) == cp, "simulate_magi: the plan holds ",
             plan.ranks.size(), " of ", cp, " ranks (use make_plan)");
  if (hier) {
    MAGI_CHECK(hier->mesh == c.mesh(), "hierarchical plan on mesh ", hier->mesh.inter, "x",
               hier->mesh.intra, ", cluster of ", c.nodes, " nodes x ", c.gpus_per_node, " GPUs");
    MAGI_CHECK(static_cast<int64_t>(hier->ranks.size()) == cp,
               "hierarchical plan: ", hier->ranks.size(), " of ", cp, " ranks");
  }
  const size_t num_stages = plan.ranks[0].stages.size();
  const double kv = static_cast<double>(shape.kv_row_bytes());
  const double dkv = static_cast<double>(shape.dkv_row_bytes());

  MethodResult res;
  res.method = hier ? "magi_hier" : "magi";
  res.ranks.resize(cp);
  // Per stage: the levels of the K/V fetch and of the dK/dV reduce (flat: one level each).
  const size_t levels = hier ? 2 : 1;
  std::vector<std::vector<Level>> fetch(num_stages, std::vector<Level>(levels)),
      reduce(num_stages, std::vector<Level>(levels));
  for (auto* v : {&fetch, &reduce})
    for (auto& stage : *v)
      for (Level& l : stage) l.link.assign(cp, 0.0);
  std::vector<std::vector<bool>> fetch_moves(num_stages, std::vector<bool>(levels, false));
  std::vector<double> gather_s(cp, 0), scatter_s(cp, 0);
  std::vector<std::vector<double>> post_s(cp, std::vector<double>(num_stages, 0));
  int64_t cells = 0;

  for (int64_t r = 0; r < cp; ++r) {
    const RankPlan& rp = plan.ranks[r];
    RankTimes& rt = res.ranks[r];
    rt.rank = r;
    cells += rp.host_area + rp.remote_area;
    const int64_t local = rp.kv_host_ranges.total_size();    // local K/V rows
    const TypedCells host_cells = cells_of(rp.host_slices);  // none at degree 0: no time
    const int64_t host_rows = q_rows(rp.host_slices) + local;
    rt.host_fwd_s = detail::kernel_s(host_cells, Pass::kFwd, c, shape, host_rows);
    rt.host_bwd_s = detail::kernel_s(host_cells, Pass::kBwd, c, shape, host_rows);
    double gathered = 0;
    for (size_t s = 0; s < num_stages; ++s) {
      const StagePlan& st = rp.stages[s];
      const int64_t local_rows = st.reads_local ? local : 0;  // in front of the stage buffer
      const TypedCells tc = cells_of(st.slices);
      const int64_t rows = q_rows(st.slices) + local_rows + st.num_recv();  // q + k
      // Local copies on the compute stream before the stage's kernel.
      double extra = detail::copy_s(static_cast<double>(local_rows) * kv, c);
      if (hier) extra += detail::copy_s(static_cast<double>(st.num_recv()) * kv, c);  // assemble
      rt.fwd_s.push_back(detail::kernel_s(tc, Pass::kFwd, c, shape, rows) + extra);
      rt.bwd_s.push_back(detail::kernel_s(tc, Pass::kBwd, c, shape, rows) + extra);
      std::vector<Traffic> f(levels), b(levels);
      if (hier) {
        const HierStagePlan& hs = hier->ranks[r].stages.at(s);
        f = {level_traffic(hs.inter, true, kv, false), level_traffic(hs.intra, false, kv, false)};
        b = {level_traffic(hs.intra, false, dkv, true), level_traffic(hs.inter, true, dkv, true)};
        gathered += static_cast<double>(hs.inter.num_send() + hs.intra.num_send()) * kv;
      } else {
        f = {flat_traffic(st, r, c, kv, false)};
        b = {flat_traffic(st, r, c, dkv, true)};
        gathered += static_cast<double>(st.num_send()) * kv;
      }
      post_s[r][s] = detail::copy_s(gathered, c);
      scatter_s[r] += detail::copy_s(static_cast<double>(st.num_send()) * dkv, c);
      double fetch_link = 0, reduce_link = 0;
      for (size_t l = 0; l < levels; ++l) {
        fetch[s][l].link[r] = detail::link_s(f[l], c);
        reduce[s][l].link[r] = detail::link_s(b[l], c);
        fetch_link += fetch[s][l].link[r];
        reduce_link += reduce[s][l].link[r];
        if (!f[l].empty()) fetch_moves[s][l] = true;
      }
      rt.fetch_s.push_back(fetch_link);
      rt.reduce_s.push_back(reduce_link);
    }
    gather_s[r] = detail::copy_s(gathered, c);
  }
  for (size_t s = 0; s < num_stages; ++s) {
    for (size_t l = 0; l < levels; ++l) {
      fetch[s][l].finish(fetch_moves[s][l], c);
      reduce[s][l].finish(fetch_moves[s][levels - 1 - l], c);
    }
  }

  // Runs one pass's gathers, host stage, fetches and stage kernels. Returns, per rank, the time
  // its last kernel ends; done[r][s] is when rank r's stage s kernel ends.
  auto run_pass = [&](bool backward, detail::Channel& ch,
                      std::vector<std::vector<double>>& done) -> std::vector<double> {
    std::vector<double> t(cp);
    done.assign(cp, std::vector<double>(num_stages, 0));
    for (int64_t r = 0; r < cp; ++r) {
      const RankTimes& rt = res.ranks[r];
      t[r] = gather_s[r] + (backward ? rt.host_bwd_s : rt.host_fwd_s);
    }
    for (size_t s = 0; s < num_stages; ++s) {
      double ready = 0;
      for (int64_t r = 0; r < cp; ++r) ready = std::max(ready, c.async_comm ? post_s[r][s] : t[r]);
      double end = ready;
      for (size_t l = 0; l < levels; ++l) end = ch.run(end, fetch[s][l].duration);
      for (int64_t r = 0; r < cp; ++r) {
        RankTimes& rt = res.ranks[r];
        (backward ? rt.bwd_wait_s : rt.fwd_wait_s) += std::max(0.0, end - t[r]);
        t[r] = std::max(t[r], end) + (backward ? rt.bwd_s[s] : rt.fwd_s[s]);
        done[r][s] = t[r];
      }
    }
    return t;
  };

  std::vector<std::vector<double>> done;
  {
    detail::Channel ch;
    const std::vector<double> t = run_pass(false, ch, done);
    for (int64_t r = 0; r < cp; ++r) res.ranks[r].fwd_end_s = t[r];
  }
  {
    detail::Channel ch;
    std::vector<double> t = run_pass(true, ch, done);
    // Reduces follow every fetch on the channel; each leaves when its stage's kernel has ended
    // on every rank (async), or when the ranks reach their waits at the end (LocalGroup).
    const double all_done = *std::max_element(t.begin(), t.end());
    double end = 0;
    for (size_t s = 0; s < num_stages && cp > 1; ++s) {
      double ready = all_done;
      if (c.async_comm) {
        ready = 0;
        for (int64_t r = 0; r < cp; ++r) ready = std::max(ready, done[r][s]);
      }
      end = ready;
      for (size_t l = 0; l < levels; ++l) end = ch.run(end, reduce[s][l].duration);
    }
    for (int64_t r = 0; r < cp; ++r) {
      RankTimes& rt = res.ranks[r];
      rt.bwd_wait_s += std::max(0.0, end - t[r]);
      rt.bwd_end_s = std::max(t[r], end) + scatter_s[r];
    }
  }

  for (const RankTimes& rt : res.ranks) {
    res.fwd_s = std::max(res.fwd_s, rt.fwd_end_s);
    res.bwd_s = std::max(res.bwd_s, rt.bwd_end_s);
    double fc = rt.host_fwd_s, bc = rt.host_bwd_s;
    for (size_t s = 0; s < num_stages; ++s) {
      fc += rt.fwd_s[s];
      bc += rt.bwd_s[s];
    }
    res.fwd_compute_s = std::max(res.fwd_compute_s, fc);
    res.bwd_compute_s = std::max(res.bwd_compute_s, bc);
  }
  if (hier) {
    const CommVolume v = hier->volume();
    res.inter_bytes = static_cast<double>(v.inter_rows) * kv;
    res.intra_bytes = static_cast<double>(v.intra_rows) * kv;
  } else {
    const CommVolume v = flat_volume(plan, c.mesh());
    res.inter_bytes = static_cast<double>(v.inter_rows) * kv;
    res.intra_bytes = static_cast<double>(v.intra_rows) * kv;
  }
  const double flops = static_cast<double>(cells) * shape.fwd_flops_per_cell();
  if (res.fwd_s > 0) res.fwd_tflops = flops / res.fwd_s / static_cast<double>(cp) / 1e12;
  if (res.bwd_s > 0) res.bwd_tflops = 2.5 * flops / res.bwd_s / static_cast<double>(cp) / 1e12;
  res.note = hier ? "hierarchical group-cast" : "flat group-cast";
  return res;
}

}  // namespace magi::sim
