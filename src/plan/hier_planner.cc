// make_hier_plan: the flat plan's group-cast routed over a 2-D mesh (see magi/hier_plan.h).
// Per stage: (1) every rank's flat receive rows, split by source, become inter-node needs per
// (source, destination node) and intra-node deliveries per (sender, receiver) of one node;
// (2) the inter level sends each (source, node) the needed rows not sent in an earlier stage;
// (3) the intra level delivers, from [local; relayed rows], what each rank needs this stage;
// (4) assemble maps the flat receive order onto the two levels' buffers.
#include <algorithm>

#include "magi/check.h"
#include "magi/hier_plan.h"
#include "plan/row_locator.h"

namespace magi {
namespace {

// Calls fn(src, range) for each range of a flat receive buffer, with the rank it comes from.
template <typename Fn>
void for_each_source(const StagePlan& st, Fn&& fn) {
  size_t src = 0;
  int64_t left = st.recv_counts.empty() ? 0 : st.recv_counts[0];
  for (AttnRange g : st.recv_global) {
    while (!g.empty()) {
      while (left == 0) left = st.recv_counts.at(++src);
      const int64_t n = std::min(left, g.size());
      fn(static_cast<int64_t>(src), AttnRange{g.start, g.start + n});
      g.start += n;
      left -= n;
    }
  }
}

AttnRanges merged(std::vector<AttnRange>& pieces) {
  AttnRanges out = AttnRanges(std::move(pieces)).merged();
  pieces.clear();
  return out;
}

}  // namespace

CommVolume HierPlan::volume() const {
  CommVolume v;
  for (const HierRankPlan& rp : ranks) {
    for (const HierStagePlan& st : rp.stages) {
      v.inter_rows += st.inter.num_recv();
      v.intra_rows += st.intra.num_recv();
    }
  }
  return v;
}

CommVolume flat_volume(const Plan& plan, const CommMesh& mesh) {
  mesh.validate(plan.cp_size());
  CommVolume v;
  for (const RankPlan& rp : plan.ranks) {
    for (const StagePlan& st : rp.stages) {
      for (int64_t src = 0; src < static_cast<int64_t>(st.recv_counts.size()); ++src) {
        (mesh.node(src) == mesh.node(rp.rank) ? v.intra_rows : v.inter_rows) += st.recv_counts[src];
      }
    }
  }
  return v;
}

HierPlan make_hier_plan(const Plan& plan, const CommMesh& mesh) {
  const int64_t cp = plan.cp_size();
  mesh.validate(cp);
  MAGI_CHECK(static_cast<int64_t>(plan.ranks.size()) == cp, "make_hier_plan: the plan holds ",
             plan.ranks.size(), " of ", cp, " ranks (use make_plan, not make_rank_plan)");
  for (int64_t r = 0; r < cp; ++r) {
    MAGI_CHECK(plan.ranks[r].rank == r, "make_hier_plan: plan.ranks[", r, "] is rank ",
               plan.ranks[r].rank);
  }
  const int64_t nodes = mesh.inter, width = mesh.intra;
  const size_t num_stages = plan.ranks.empty() ? 0 : plan.ranks[0].stages.size();

  HierPlan out;
  out.mesh = mesh;
  out.ranks.resize(cp);
  std::vector<plan::RowLocator> holdings(cp);  // [local; inter.recv of stages so far]
  std::vector<plan::RowLocator> relayed(cp);   // [inter.recv of stages so far]
  std::vector<int64_t> held(cp), relayed_rows(cp, 0);
  for (int64_t r = 0; r < cp; ++r) {
    out.ranks[r].rank = r;
    out.ranks[r].stages.resize(num_stages);
    holdings[r].add(plan.ranks[r].kv_host_ranges, 0);
    held[r] = plan.ranks[r].kv_host_ranges.total_size();
  }
  std::vector<AttnRanges> sent(cp * nodes);  // rows (src, node) has received so far
  std::vector<std::vector<AttnRange>> need(cp * nodes), deliver(cp * width);
  std::vector<AttnRanges> fresh(cp * nodes), hop(cp * width);

  for (size_t s = 0; s < num_stages; ++s) {
    // (1) needs of this stage.
    for (int64_t dst = 0; dst < cp; ++dst) {
      const StagePlan& flat = plan.ranks[dst].stages.at(s);
      MAGI_CHECK(static_cast<int64_t>(flat.recv_counts.size()) == cp, "make_hier_plan: rank ", dst,
                 " stage ", s, " has ", flat.recv_counts.size(), " recv counts for cp ", cp);
      const int64_t n = mesh.node(dst), l = mesh.local(dst);
      for_each_source(flat, [&](int64_t src, AttnRange g) {
        if (mesh.node(src) == n) {
          deliver[src * width + l].push_back(g);
          return;
        }
        need[src * nodes + n].push_back(g);
        const int64_t relay = n * width + mesh.local(src);
        if (relay != dst) deliver[relay * width + l].push_back(g);
      });
    }
    // (2) inter-node level: rows a node has not received from this source before.
    for (int64_t src = 0; src < cp; ++src) {
      for (int64_t n = 0; n < nodes; ++n) {
        const int64_t key = src * nodes + n;
        if (need[key].empty()) continue;
        fresh[key] = merged(need[key]).subtract(sent[key]);
        std::vector<AttnRange> all = sent[key].items();
        all.insert(all.end(), fresh[key].begin(), fresh[key].end());
        sent[key] = AttnRanges(std::move(all)).merged();
      }
    }
    for (int64_t r = 0; r < cp; ++r) {
      ExchangeTable& ex = out.ranks[r].stages[s].inter;
      ex.send_counts.assign(cp, 0);
      ex.recv_counts.assign(cp, 0);
      const AttnRanges& host = plan.ranks[r].kv_host_ranges;
      const int64_t me_node = mesh.node(r), me_local = mesh.local(r);
      for (int64_t n = 0; n < nodes; ++n) {  // relays of r, in rank order
        const AttnRanges& rows = fresh[r * nodes + n];
        if (n == me_node || rows.empty()) continue;
        for (const AttnRange& g : rows) ex.send_rows.push_back(host.to_local(g));
        ex.send_counts[n * width + me_local] = rows.total_size();
      }
      for (int64_t m = 0; m < nodes; ++m) {  // sources relayed by r, in rank order
        const int64_t src = m * width + me_local;
        const AttnRanges& rows = fresh[src * nodes + me_node];
        if (m == me_node || rows.empty()) continue;
        for (const AttnRange& g : rows) ex.recv_global.push_back(g);
        ex.recv_counts[src] = rows.total_size();
      }
    }
    for (int64_t r = 0; r < cp; ++r) {
      const ExchangeTable& ex = out.ranks[r].stages[s].inter;
      holdings[r].add(ex.recv_global, held[r]);
      relayed[r].add(ex.recv_global, relayed_rows[r]);
      held[r] += ex.num_recv();
      relayed_rows[r] += ex.num_recv();
    }
    for (AttnRanges& f : fresh) f = AttnRanges();
    // (3) intra-node level.
    for (int64_t key = 0; key < cp * width; ++key) {
      if (!deliver[key].empty()) hop[key] = merged(deliver[key]);
    }
    for (int64_t r = 0; r < cp; ++r) {
      ExchangeTable& ex = out.ranks[r].stages[s].intra;
      ex.send_counts.assign(cp, 0);
      ex.recv_counts.assign(cp, 0);
      std::vector<AttnRange> send_rows;
      const int64_t first = mesh.node(r) * width;
      for (int64_t peer = first; peer < first + width; ++peer) {
        if (peer == r) continue;
        const AttnRanges& to_peer = hop[r * width + mesh.local(peer)];
        for (const AttnRange& g : to_peer) holdings[r].locate(g, send_rows, "intra-node send");
        ex.send_counts[peer] = to_peer.total_size();
        const AttnRanges& from_peer = hop[peer * width + mesh.local(r)];
        for (const AttnRange& g : from_peer) ex.recv_global.push_back(g);
        ex.recv_counts[peer] = from_peer.total_size();
      }
      ex.send_rows = AttnRanges(std::move(send_rows));
    }
    // (4) the flat receive buffer from [inter.recv of stages 0..s; intra.recv].
    for (int64_t dst = 0; dst < cp; ++dst) {
      HierStagePlan& st = out.ranks[dst].stages[s];
      plan::RowLocator intra;
      intra.add(st.intra.recv_global, relayed_rows[dst]);
      const int64_t n = mesh.node(dst);
      std::vector<AttnRange> rows;
      for_each_source(plan.ranks[dst].stages[s], [&](int64_t src, AttnRange g) {
        const bool own_relay = mesh.node(src) != n && n * width + mesh.local(src) == dst;
        (own_relay ? relayed[dst] : intra).locate(g, rows, "assemble");
      });
      st.assemble = AttnRanges(std::move(rows));
    }
    for (AttnRanges& h : hop) h = AttnRanges();
  }
  return out;
}

}  // namespace magi
