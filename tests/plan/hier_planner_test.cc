#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "magi/check.h"
#include "magi/hier_plan.h"
#include "testing/random_mask.h"

namespace magi {
namespace {

std::vector<int64_t> row_ids(const AttnRanges& layout) {
  std::vector<int64_t> ids;
  for (const AttnRange& r : layout)
    for (int64_t x = r.start; x < r.end; ++x) ids.push_back(x);
  return ids;
}

std::vector<int64_t> gather(const std::vector<int64_t>& buf, const AttnRanges& rows) {
  std::vector<int64_t> out;
  for (const AttnRange& r : rows) {
    EXPECT_LE(r.end, static_cast<int64_t>(buf.size())) << to_string(r);
    for (int64_t x = r.start; x < r.end && x < static_cast<int64_t>(buf.size()); ++x)
      out.push_back(buf[x]);
  }
  return out;
}

// Runs one level's all_to_all_v over token ids: sends[r] gathered by each rank, split by its
// send counts; returns what each rank receives, in source-rank order, and checks the counts
// the receivers expect. `allowed(src, dst)` says which pairs may talk at this level.
template <typename Allowed>
std::vector<std::vector<int64_t>> exchange(const std::vector<std::vector<int64_t>>& sends,
                                           const std::vector<const ExchangeTable*>& tables,
                                           Allowed allowed) {
  const int64_t cp = static_cast<int64_t>(tables.size());
  std::vector<std::vector<int64_t>> got(cp);
  std::vector<std::vector<std::vector<int64_t>>> piece(cp, std::vector<std::vector<int64_t>>(cp));
  for (int64_t src = 0; src < cp; ++src) {
    int64_t pos = 0;
    for (int64_t dst = 0; dst < cp; ++dst) {
      const int64_t n = tables[src]->send_counts.at(dst);
      if (n) {
        EXPECT_TRUE(allowed(src, dst)) << "rank " << src << " sends to rank " << dst;
      }
      piece[src][dst].assign(sends[src].begin() + pos, sends[src].begin() + pos + n);
      pos += n;
    }
    EXPECT_EQ(pos, static_cast<int64_t>(sends[src].size())) << "rank " << src;
  }
  for (int64_t dst = 0; dst < cp; ++dst) {
    for (int64_t src = 0; src < cp; ++src) {
      EXPECT_EQ(tables[dst]->recv_counts.at(src), static_cast<int64_t>(piece[src][dst].size()))
          << "rank " << dst << " from " << src;
      got[dst].insert(got[dst].end(), piece[src][dst].begin(), piece[src][dst].end());
    }
  }
  return got;
}

// Executes the hierarchical plan on token ids and checks it against the flat plan. Rows are K/V
// rows, held and owned per flat.dispatch_kv (the q dispatch in self-attention).
void check_hier(const Plan& flat, const HierPlan& hier, const CommMesh& mesh) {
  const int64_t cp = flat.cp_size();
  ASSERT_EQ(static_cast<int64_t>(hier.ranks.size()), cp);
  std::vector<std::vector<int64_t>> local(cp), inter_buf(cp);
  std::vector<std::set<int64_t>> needed(cp), forwarded(cp);
  for (int64_t r = 0; r < cp; ++r) {
    local[r] = row_ids(flat.ranks[r].kv_host_ranges);
    for (const StagePlan& st : flat.ranks[r].stages)
      for (int64_t x : row_ids(st.recv_global)) needed[r].insert(x);
  }
  std::vector<std::multiset<int64_t>> crossed(mesh.inter);  // rows that entered each node
  for (size_t s = 0; s < flat.ranks[0].stages.size(); ++s) {
    SCOPED_TRACE("stage " + std::to_string(s));
    std::vector<const ExchangeTable*> inter(cp), intra(cp);
    std::vector<std::vector<int64_t>> sends(cp);
    for (int64_t r = 0; r < cp; ++r) {
      inter[r] = &hier.ranks[r].stages.at(s).inter;
      intra[r] = &hier.ranks[r].stages.at(s).intra;
      sends[r] = gather(local[r], inter[r]->send_rows);
    }
    const auto got_inter = exchange(sends, inter, [&](int64_t a, int64_t b) {
      return mesh.node(a) != mesh.node(b) && mesh.local(a) == mesh.local(b);
    });
    for (int64_t r = 0; r < cp; ++r) {
      ASSERT_EQ(got_inter[r], row_ids(inter[r]->recv_global)) << "rank " << r;
      for (int64_t x : got_inter[r]) crossed[mesh.node(r)].insert(x);
      inter_buf[r].insert(inter_buf[r].end(), got_inter[r].begin(), got_inter[r].end());
      std::vector<int64_t> source = local[r];
      source.insert(source.end(), inter_buf[r].begin(), inter_buf[r].end());
      sends[r] = gather(source, intra[r]->send_rows);
      for (int64_t x : sends[r]) forwarded[r].insert(x);
    }
    const auto got_intra = exchange(
        sends, intra, [&](int64_t a, int64_t b) { return mesh.node(a) == mesh.node(b) && a != b; });
    for (int64_t r = 0; r < cp; ++r) {
      const StagePlan& fs = flat.ranks[r].stages[s];
      ASSERT_EQ(got_intra[r], row_ids(intra[r]->recv_global)) << "rank " << r;
      // Exactly once: what arrives inside the node is needed this stage, and only once.
      const std::vector<int64_t> want = row_ids(fs.recv_global);
      const std::set<int64_t> want_set(want.begin(), want.end());
      std::set<int64_t> seen;
      for (int64_t x : got_intra[r]) {
        ASSERT_TRUE(want_set.count(x)) << "rank " << r << " gets row " << x << " it does not need";
        ASSERT_TRUE(seen.insert(x).second) << "rank " << r << " gets row " << x << " twice";
      }
      std::vector<int64_t> buf = inter_buf[r];
      buf.insert(buf.end(), got_intra[r].begin(), got_intra[r].end());
      ASSERT_EQ(gather(buf, hier.ranks[r].stages[s].assemble), want) << "rank " << r;
      // A row comes inside the node unless this rank is its relay (then it is in inter_buf).
      for (int64_t x : want) {
        const int64_t owner = flat.dispatch_kv.owner(x);
        const bool via_own_relay =
            mesh.node(owner) != mesh.node(r) && mesh.node(r) * mesh.intra + mesh.local(owner) == r;
        EXPECT_EQ(seen.count(x), via_own_relay ? 0u : 1u) << "rank " << r << " row " << x;
      }
    }
  }
  // Each row enters a node at most once; a relayed row is used by the relay or sent on.
  for (int64_t n = 0; n < mesh.inter; ++n) {
    for (int64_t x : crossed[n]) ASSERT_EQ(crossed[n].count(x), 1u) << "node " << n << " row " << x;
  }
  for (int64_t r = 0; r < cp; ++r) {
    for (int64_t x : inter_buf[r]) {
      EXPECT_TRUE(needed[r].count(x) || forwarded[r].count(x)) << "rank " << r << " row " << x;
    }
  }
  // Volumes: the inter level moves at least flat/intra and at most flat rows; totals add up.
  const CommVolume fv = flat_volume(flat, mesh), hv = hier.volume();
  EXPECT_LE(hv.inter_rows, fv.inter_rows);
  EXPECT_GE(hv.inter_rows * mesh.intra, fv.inter_rows);
  int64_t relay_kept = 0;  // relayed rows the relay needs itself
  for (int64_t r = 0; r < cp; ++r)
    for (int64_t x : inter_buf[r]) relay_kept += needed[r].count(x);
  EXPECT_EQ(hv.intra_rows + relay_kept, fv.inter_rows + fv.intra_rows);
}

TEST(HierPlanner, HandWorkedFullMaskOnTwoByTwo) {
  // 8 tokens, chunk 2, sequential dispatch: rank r owns [2r, 2r + 2); nodes {0, 1} and {2, 3}.
  const std::vector<AttnSlice> full = {{{0, 8}, {0, 8}, AttnMaskType::kFull}};
  const DispatchMeta d = solve_dispatch(full, 8, 2, 4, {DispatchAlgType::kSequential});
  OverlapConfig o;
  o.degree = 1;
  o.min_chunk_size = 2;
  const Plan flat = make_plan(full, d, o);
  const CommMesh mesh{2, 2};
  const HierPlan h = make_hier_plan(flat, mesh);
  const HierStagePlan& r0 = h.ranks[0].stages.at(0);
  // Rank 0 relays rank 2's rows into node 0 and sends its own rows to rank 2.
  EXPECT_EQ(r0.inter.send_rows, AttnRanges({{0, 2}}));
  EXPECT_EQ(r0.inter.send_counts, (std::vector<int64_t>{0, 0, 2, 0}));
  EXPECT_EQ(r0.inter.recv_global, AttnRanges({{4, 6}}));
  EXPECT_EQ(r0.inter.recv_counts, (std::vector<int64_t>{0, 0, 2, 0}));
  // Inside node 0: rank 0 sends its rows and the relayed [4, 6) (buffer [local 0..2; inter 2..4]).
  EXPECT_EQ(r0.intra.send_rows, AttnRanges({{0, 4}}));
  EXPECT_EQ(r0.intra.send_counts, (std::vector<int64_t>{0, 4, 0, 0}));
  EXPECT_EQ(r0.intra.recv_global, AttnRanges({{2, 4}, {6, 8}}));
  EXPECT_EQ(r0.intra.recv_counts, (std::vector<int64_t>{0, 4, 0, 0}));
  // Flat order [2,4) [4,6) [6,8) from [inter: 4,5 | intra: 2,3,6,7].
  EXPECT_EQ(r0.assemble, AttnRanges({{2, 4}, {0, 2}, {4, 6}}));
  EXPECT_EQ(flat_volume(flat, mesh), (CommVolume{16, 8}));
  EXPECT_EQ(h.volume(), (CommVolume{8, 16}));
  check_hier(flat, h, mesh);
}

TEST(HierPlanner, FullMaskCrossesOncePerNode) {
  const std::vector<AttnSlice> full = {{{0, 190}, {0, 190}, AttnMaskType::kFull}};
  for (const CommMesh mesh : {CommMesh{2, 2}, CommMesh{2, 4}, CommMesh{4, 2}, CommMesh{3, 3}}) {
    const int64_t cp = mesh.size(), chunk = 4;
    const int64_t total = (190 + chunk * cp - 1) / (chunk * cp) * chunk * cp;
    for (int64_t degree : {0, 1, 3}) {
      OverlapConfig o;
      o.degree = degree;
      o.min_chunk_size = 3;
      const Plan flat = make_plan(full, solve_dispatch(full, total, chunk, cp, {}), o);
      const HierPlan h = make_hier_plan(flat, mesh);
      SCOPED_TRACE("mesh " + std::to_string(mesh.inter) + "x" + std::to_string(mesh.intra) +
                   " degree " + std::to_string(degree));
      EXPECT_EQ(h.volume().inter_rows * mesh.intra, flat_volume(flat, mesh).inter_rows);
      check_hier(flat, h, mesh);
    }
  }
}

TEST(HierPlanner, RandomMasksAndMeshes) {
  std::mt19937_64 rng(77);
  for (int iter = 0; iter < 1500; ++iter) {
    const CommMesh mesh{std::uniform_int_distribution<int64_t>(1, 4)(rng),
                        std::uniform_int_distribution<int64_t>(1, 4)(rng)};
    const int64_t cp = mesh.size();
    const int64_t chunk = std::uniform_int_distribution<int64_t>(1, cp > 8 ? 2 : 4)(rng);
    const int64_t raw = std::uniform_int_distribution<int64_t>(1, 80)(rng);
    const int64_t block = chunk * cp, total = raw + (block - raw % block) % block;
    const auto slices = rng() % 2 ? testing::random_slices(rng, raw, raw, 8)
                                  : testing::random_varlen_slices(rng, raw, 6);
    OverlapConfig o;
    o.degree = std::uniform_int_distribution<int64_t>(0, 3)(rng);
    o.min_chunk_size = std::uniform_int_distribution<int64_t>(1, 6)(rng);
    DispatchAlg alg;
    alg.type = static_cast<DispatchAlgType>(std::uniform_int_distribution<int>(0, 3)(rng));
    alg.top_p = 0.5;
    const Plan flat = make_plan(slices, solve_dispatch(slices, total, chunk, cp, alg), o);
    SCOPED_TRACE("iteration " + std::to_string(iter) + " mesh " + std::to_string(mesh.inter) + "x" +
                 std::to_string(mesh.intra) + " total " + std::to_string(total));
    check_hier(flat, make_hier_plan(flat, mesh), mesh);
    if (HasFatalFailure()) return;
  }
}

// Cross-attention: K/V rows have a dispatch (and a length) of their own, even or uneven; the
// relays forward K/V rows from their K/V owners.
TEST(HierPlanner, CrossAttentionRoutesKvRowsFromTheirOwnDispatch) {
  std::mt19937_64 rng(78);
  for (int iter = 0; iter < 600; ++iter) {
    const CommMesh mesh{std::uniform_int_distribution<int64_t>(1, 3)(rng),
                        std::uniform_int_distribution<int64_t>(1, 3)(rng)};
    const int64_t cp = mesh.size();
    const bool uneven = iter % 2;
    const int64_t raw_q = std::uniform_int_distribution<int64_t>(cp, 80)(rng);
    const int64_t raw_k = std::uniform_int_distribution<int64_t>(cp, 80)(rng);
    const int64_t chunk = std::uniform_int_distribution<int64_t>(1, raw_q / cp > 3 ? 3 : 1)(rng);
    const int64_t chunk_kv = std::uniform_int_distribution<int64_t>(1, raw_k / cp > 3 ? 3 : 1)(rng);
    auto padded = [&](int64_t raw, int64_t c) {
      return uneven ? raw : raw + (c * cp - raw % (c * cp)) % (c * cp);
    };
    const auto slices = testing::random_slices(rng, raw_q, raw_k, 8);
    OverlapConfig o;
    o.degree = std::uniform_int_distribution<int64_t>(0, 3)(rng);
    o.min_chunk_size = std::uniform_int_distribution<int64_t>(1, 6)(rng);
    const DispatchAlg alg{DispatchAlgType::kSequential};
    const DispatchMeta d = solve_dispatch(slices, padded(raw_q, chunk), chunk, cp, alg, uneven);
    const DispatchMeta dkv =
        solve_kv_dispatch(slices, padded(raw_k, chunk_kv), chunk_kv, cp, alg, uneven);
    const Plan flat = make_plan(slices, d, dkv, o);
    SCOPED_TRACE("iteration " + std::to_string(iter) + " mesh " + std::to_string(mesh.inter) + "x" +
                 std::to_string(mesh.intra) + " q " + std::to_string(raw_q) + " kv " +
                 std::to_string(raw_k) + (uneven ? " uneven" : ""));
    check_hier(flat, make_hier_plan(flat, mesh), mesh);
    if (HasFatalFailure()) return;
  }
}

TEST(HierPlanner, OneNodeIsTheFlatPlan) {
  const std::vector<AttnSlice> causal = {{{0, 64}, {0, 64}, AttnMaskType::kCausal}};
  OverlapConfig o;
  o.degree = 2;
  o.min_chunk_size = 4;
  const Plan flat = make_plan(causal, solve_dispatch(causal, 64, 4, 4, {}), o);
  const HierPlan h = make_hier_plan(flat, {1, 4});
  for (int64_t r = 0; r < 4; ++r) {
    for (size_t s = 0; s < 2; ++s) {
      const StagePlan& f = flat.ranks[r].stages[s];
      const HierStagePlan& st = h.ranks[r].stages[s];
      EXPECT_EQ(st.inter.num_recv(), 0);
      EXPECT_EQ(st.intra.recv_global, f.recv_global);
      EXPECT_EQ(st.intra.recv_counts, f.recv_counts);
      EXPECT_EQ(st.intra.send_counts, f.send_counts);
    }
  }
  EXPECT_EQ(h.volume(), flat_volume(flat, {1, 4}));
}

TEST(HierPlanner, BadMeshNamesTheValues) {
  const std::vector<AttnSlice> full = {{{0, 16}, {0, 16}, AttnMaskType::kFull}};
  const DispatchMeta d = solve_dispatch(full, 16, 2, 4, {});
  const Plan flat = make_plan(full, d, {});
  try {
    make_hier_plan(flat, {3, 2});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("mesh 3x2 has 6 ranks, but cp_size = 4"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(make_hier_plan(flat, {0, 4}), Error);
  try {
    make_hier_plan(make_rank_plan(full, d, {}, 1), {2, 2});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("holds 1 of 4 ranks"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace magi
