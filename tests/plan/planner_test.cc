#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "magi/check.h"
#include "magi/plan.h"
#include "testing/random_mask.h"

namespace magi {
namespace {

// Global token id of each row of a buffer laid out as `layout` (ranges back to back).
std::vector<int64_t> row_ids(const AttnRanges& layout) {
  std::vector<int64_t> ids;
  for (const AttnRange& r : layout)
    for (int64_t x = r.start; x < r.end; ++x) ids.push_back(x);
  return ids;
}

// Adds the cells of `slices` (q: local rows, k: rows of a buffer with ids k_ids) to `count`.
void add_cells(const std::vector<AttnSlice>& slices, const std::vector<int64_t>& q_ids,
               const std::vector<int64_t>& k_ids, int64_t total, std::vector<int>& count) {
  for (const AttnSlice& s : slices) {
    ASSERT_LE(s.q.end, static_cast<int64_t>(q_ids.size())) << to_string(s);
    ASSERT_LE(s.k.end, static_cast<int64_t>(k_ids.size())) << to_string(s);
    for (int64_t q = s.q.start; q < s.q.end; ++q) {
      const AttnRange keys = s.row_keys(q);
      for (int64_t k = keys.start; k < keys.end; ++k) ++count[q_ids[q] * total + k_ids[k]];
    }
  }
}

struct Case {
  std::vector<AttnSlice> slices;
  int64_t total = 0;  // padded
  int64_t chunk = 0, cp = 0;
};

Case random_case(std::mt19937_64& rng) {
  Case c;
  c.cp = std::uniform_int_distribution<int64_t>(1, 16)(rng);
  c.chunk = std::uniform_int_distribution<int64_t>(1, c.cp > 8 ? 3 : 6)(rng);
  const int64_t raw = std::uniform_int_distribution<int64_t>(1, 70)(rng);
  const int64_t block = c.chunk * c.cp;
  c.total = raw + (block - raw % block) % block;
  c.slices = rng() % 2 ? testing::random_slices(rng, raw, raw, 8)
                       : testing::random_varlen_slices(rng, raw, 6);
  return c;
}

OverlapConfig random_overlap(std::mt19937_64& rng) {
  OverlapConfig o;
  o.min_chunk_size = std::uniform_int_distribution<int64_t>(1, 8)(rng);
  o.max_num_chunks = std::uniform_int_distribution<int64_t>(4, 16)(rng);
  const int kind = std::uniform_int_distribution<int>(0, 5)(rng);
  if (kind == 0) o.degree = 0;
  if (kind == 1) o.degree = 1;
  if (kind == 2) o.degree = 2;
  if (kind == 3) o.degree = 4;
  if (kind == 4) {
    o.mode = AttnOverlapMode::kDynamic;
    o.degree.reset();
  }
  if (kind == 5) o.enable = false;
  if (rng() % 2) o.alg.type = OverlapAlgType::kGreedy;
  if (rng() % 2) {
    o.alg.random_costs = true;
    o.alg.random_seed = rng() % 100;
  }
  return o;
}

DispatchAlg random_alg(std::mt19937_64& rng) {
  DispatchAlg a;
  a.type = static_cast<DispatchAlgType>(std::uniform_int_distribution<int>(0, 3)(rng));
  a.top_p = 0.5;
  return a;
}

void check_plan(const Case& c, const Plan& plan) {
  const int64_t n = c.total;
  const auto dense = testing::dense_mask(c.slices, n, n);
  ASSERT_EQ(static_cast<int64_t>(plan.ranks.size()), c.cp);
  std::map<int64_t, std::vector<int64_t>> send_ids;  // (stage * cp + src) * cp + dst -> tokens
  for (const RankPlan& rp : plan.ranks) {
    const int64_t me = rp.rank;
    // (c) equal chunk counts
    ASSERT_EQ(static_cast<int64_t>(plan.dispatch.partitions[me].size()),
              plan.dispatch.num_chunks() / c.cp);
    ASSERT_EQ(rp.stages.size(), plan.ranks[0].stages.size());
    const std::vector<int64_t> local = row_ids(rp.host_ranges);
    ASSERT_EQ(local, plan.dispatch.position_ids(me));
    // (a) host + stage slices cover the mask cells in my rows exactly once.
    std::vector<int> count(n * n, 0);
    add_cells(rp.host_slices, local, local, n, count);
    std::set<int64_t> received;
    for (const StagePlan& st : rp.stages) {
      const std::vector<int64_t> recv = row_ids(st.recv_global);
      add_cells(st.slices, local, recv, n, count);
      // (b) each remote row once, from its owner, never a host row.
      int64_t pos = 0;
      for (int64_t src = 0; src < c.cp; ++src) {
        for (int64_t i = 0; i < st.recv_counts[src]; ++i, ++pos) {
          ASSERT_EQ(plan.dispatch.owner(recv[pos]), src);
          ASSERT_NE(src, me);
          ASSERT_TRUE(received.insert(recv[pos]).second) << "row " << recv[pos] << " twice";
        }
      }
      ASSERT_EQ(pos, static_cast<int64_t>(recv.size()));
    }
    std::set<int64_t> mine(local.begin(), local.end()), needed;
    for (int64_t q : local) {
      for (int64_t k = 0; k < n; ++k) {
        ASSERT_EQ(count[q * n + k], dense[q * n + k]) << "rank " << me << " cell " << q << "," << k;
        if (dense[q * n + k] && !mine.count(k)) needed.insert(k);
      }
    }
    for (int64_t q = 0; q < n; ++q) {
      if (mine.count(q)) continue;
      for (int64_t k = 0; k < n; ++k) ASSERT_EQ(count[q * n + k], 0);
    }
    ASSERT_EQ(received, needed) << "rank " << me << " receives rows it does not need";
    if (plan.degree == 0) {
      std::vector<int> merged(n * n, 0);
      std::vector<int64_t> kv = local;
      for (int64_t x : row_ids(rp.stages[0].recv_global)) kv.push_back(x);
      add_cells(rp.merged_slices, local, kv, n, merged);
      for (int64_t q : local)
        for (int64_t k = 0; k < n; ++k) ASSERT_EQ(merged[q * n + k], dense[q * n + k]);
    }
    // Send buffers, to check against the receivers below.
    for (size_t s = 0; s < rp.stages.size(); ++s) {
      const StagePlan& st = rp.stages[s];
      int64_t pos = 0;
      const std::vector<int64_t> gathered = [&] {
        std::vector<int64_t> g;
        for (const AttnRange& r : st.send_rows)
          for (int64_t x = r.start; x < r.end; ++x) g.push_back(local[x]);
        return g;
      }();
      for (int64_t dst = 0; dst < c.cp; ++dst) {
        auto& v = send_ids[(static_cast<int64_t>(s) * c.cp + me) * c.cp + dst];
        v.assign(gathered.begin() + pos, gathered.begin() + pos + st.send_counts[dst]);
        pos += st.send_counts[dst];
      }
      ASSERT_EQ(pos, static_cast<int64_t>(gathered.size()));
    }
  }
  // The all_to_all_v of the send tables delivers exactly each receiver's recv buffer.
  for (const RankPlan& rp : plan.ranks) {
    for (size_t s = 0; s < rp.stages.size(); ++s) {
      std::vector<int64_t> got;
      for (int64_t src = 0; src < c.cp; ++src) {
        const auto& v = send_ids[(static_cast<int64_t>(s) * c.cp + src) * c.cp + rp.rank];
        got.insert(got.end(), v.begin(), v.end());
      }
      ASSERT_EQ(got, row_ids(rp.stages[s].recv_global)) << "rank " << rp.rank << " stage " << s;
    }
  }
}

TEST(Planner, RandomMasksCoverEveryCellOnceAndFetchEachRowOnce) {
  std::mt19937_64 rng(2024);
  for (int iter = 0; iter < 3000; ++iter) {
    const Case c = random_case(rng);
    const OverlapConfig overlap = random_overlap(rng);
    const DispatchMeta d = solve_dispatch(c.slices, c.total, c.chunk, c.cp, random_alg(rng));
    const Plan plan = make_plan(c.slices, d, overlap);
    SCOPED_TRACE("iteration " + std::to_string(iter) + " cp " + std::to_string(c.cp) + " total " +
                 std::to_string(c.total) + " chunk " + std::to_string(c.chunk) + " degree " +
                 std::to_string(plan.degree));
    check_plan(c, plan);
    if (HasFatalFailure()) return;
    const int64_t r = static_cast<int64_t>(rng() % c.cp);
    ASSERT_EQ(make_rank_plan(c.slices, d, overlap, r).ranks.at(0), plan.ranks[r]);
  }
}

TEST(Planner, StageCountFollowsTheDegree) {
  const std::vector<AttnSlice> causal = {{{0, 64}, {0, 64}, AttnMaskType::kCausal}};
  const DispatchMeta d = solve_dispatch(causal, 64, 4, 4, {});
  for (int64_t degree : {0, 1, 2, 3, 4}) {
    OverlapConfig o;
    o.degree = degree;
    o.min_chunk_size = 4;
    const Plan p = make_plan(causal, d, o);
    EXPECT_EQ(p.degree, degree);
    for (const RankPlan& rp : p.ranks) {
      EXPECT_EQ(static_cast<int64_t>(rp.stages.size()), std::max<int64_t>(degree, 1));
    }
  }
}

TEST(Planner, BadConfigNamesTheArgument) {
  const std::vector<AttnSlice> full = {{{0, 16}, {0, 16}, AttnMaskType::kFull}};
  const DispatchMeta d = solve_dispatch(full, 16, 4, 2, {});
  OverlapConfig o;
  o.degree = 9;
  o.max_num_chunks = 8;
  try {
    make_plan(full, d, o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("degree = 9"), std::string::npos) << e.what();
  }
  const std::vector<AttnSlice> outside = {{{0, 16}, {0, 17}, AttnMaskType::kFull}};
  EXPECT_THROW(make_plan(outside, d, OverlapConfig{}), Error);
  EXPECT_THROW(make_rank_plan(full, d, OverlapConfig{}, 2), Error);
}

TEST(Planner, ToJsonNamesEveryRank) {
  const std::vector<AttnSlice> causal = {{{0, 32}, {0, 32}, AttnMaskType::kCausal}};
  const Plan p = make_plan(causal, solve_dispatch(causal, 32, 4, 2, {}), OverlapConfig{});
  const std::string j = p.to_json(true);
  EXPECT_NE(j.find("\"rank\":0"), std::string::npos);
  EXPECT_NE(j.find("\"rank\":1"), std::string::npos);
  EXPECT_NE(j.find("\"causal\""), std::string::npos);
}

}  // namespace
}  // namespace magi
