// Invariants of attention plans and random plan cases, shared by the planner tests and the fuzz
// driver (tests/fuzz).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "magi/dispatch.h"
#include "magi/plan.h"
#include "testing/random_mask.h"

namespace magi::testing {

// Global token id of each row of a buffer laid out as `layout` (ranges back to back).
inline std::vector<int64_t> row_ids(const AttnRanges& layout) {
  std::vector<int64_t> ids;
  for (const AttnRange& r : layout)
    for (int64_t x = r.start; x < r.end; ++x) ids.push_back(x);
  return ids;
}

// Adds the cells of `slices` (q: local rows, k: rows of a buffer with ids k_ids) to `count`.
// `total` is the number of columns (K/V rows) of `count`.
inline void add_cells(const std::vector<AttnSlice>& slices, const std::vector<int64_t>& q_ids,
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

struct PlanCase {
  std::vector<AttnSlice> slices;
  int64_t total = 0;  // padded (not for uneven cases)
  int64_t chunk = 0, cp = 0;
  int64_t total_kv = 0;  // padded (not for uneven cases); 0: self-attention (K/V rows are q's)
  int64_t chunk_kv = 0;

  int64_t kv_rows() const { return total_kv ? total_kv : total; }
};

inline PlanCase random_plan_case(std::mt19937_64& rng, int64_t max_len = 70) {
  PlanCase c;
  c.cp = std::uniform_int_distribution<int64_t>(1, 16)(rng);
  c.chunk = std::uniform_int_distribution<int64_t>(1, c.cp > 8 ? 3 : 6)(rng);
  const int64_t raw = std::uniform_int_distribution<int64_t>(1, max_len)(rng);
  const int64_t block = c.chunk * c.cp;
  c.total = raw + (block - raw % block) % block;
  c.slices = rng() % 2 ? testing::random_slices(rng, raw, raw, 8)
                       : testing::random_varlen_slices(rng, raw, 6);
  return c;
}

/// An unpadded case for uneven shards: total need not be a multiple of chunk or cp, and there
/// are at least cp chunks.
inline PlanCase random_uneven_plan_case(std::mt19937_64& rng, int64_t max_len = 70) {
  PlanCase c;
  c.cp = std::uniform_int_distribution<int64_t>(1, 8)(rng);
  c.total = std::uniform_int_distribution<int64_t>(c.cp, std::max(max_len, c.cp))(rng);
  c.chunk = std::uniform_int_distribution<int64_t>(1, std::min<int64_t>(6, c.total / c.cp))(rng);
  c.slices = rng() % 2 ? testing::random_slices(rng, c.total, c.total, 8)
                       : testing::random_varlen_slices(rng, c.total, 6);
  return c;
}

/// Cross-attention: q and K/V of their own random lengths and chunk sizes.
inline PlanCase random_cross_plan_case(std::mt19937_64& rng, int64_t max_len = 70) {
  PlanCase c;
  c.cp = std::uniform_int_distribution<int64_t>(1, 8)(rng);
  c.chunk = std::uniform_int_distribution<int64_t>(1, 6)(rng);
  c.chunk_kv = std::uniform_int_distribution<int64_t>(1, 6)(rng);
  const int64_t raw_q = std::uniform_int_distribution<int64_t>(1, max_len)(rng);
  const int64_t raw_k = std::uniform_int_distribution<int64_t>(1, max_len)(rng);
  auto padded = [&](int64_t raw, int64_t chunk) {
    const int64_t block = chunk * c.cp;
    return raw + (block - raw % block) % block;
  };
  c.total = padded(raw_q, c.chunk);
  c.total_kv = padded(raw_k, c.chunk_kv);
  c.slices = testing::random_slices(rng, raw_q, raw_k, 8);
  return c;
}

/// Cross-attention with uneven shards: q and K/V unpadded, of their own random lengths and
/// chunk sizes, each with at least cp chunks.
inline PlanCase random_uneven_cross_plan_case(std::mt19937_64& rng, int64_t max_len = 70) {
  PlanCase c;
  c.cp = std::uniform_int_distribution<int64_t>(1, 8)(rng);
  auto length = [&] {
    return std::uniform_int_distribution<int64_t>(c.cp, std::max(max_len, c.cp))(rng);
  };
  auto chunk = [&](int64_t total) {
    return std::uniform_int_distribution<int64_t>(1, std::min<int64_t>(6, total / c.cp))(rng);
  };
  c.total = length();
  c.total_kv = length();
  c.chunk = chunk(c.total);
  c.chunk_kv = chunk(c.total_kv);
  c.slices = testing::random_slices(rng, c.total, c.total_kv, 8);
  return c;
}

inline OverlapConfig random_overlap(std::mt19937_64& rng) {
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

inline DispatchAlg random_alg(std::mt19937_64& rng) {
  DispatchAlg a;
  a.type = static_cast<DispatchAlgType>(std::uniform_int_distribution<int>(0, 3)(rng));
  a.top_p = 0.5;
  return a;
}

/// Every invariant of a plan (gtest assertions): (a) the host and stage slices of a rank cover
/// the mask cells of its rows exactly once (a stage that reads_local over [local; received]);
/// (b) each remote row arrives once, from its owner, only where needed; (c) equal chunk counts
/// per rank, of q and of K/V (for uneven shards 1 to ceil(chunks / ranks)); (d) degree 0 is one
/// stage over [local; received] and an empty host stage; the send tables deliver exactly every
/// receiver's recv buffer. Remote rows are K/V rows (owned per plan.dispatch_kv).
inline void check_plan(const PlanCase& c, const Plan& plan) {
  const int64_t nq = c.total, n = c.kv_rows();
  const auto dense = testing::dense_mask(c.slices, nq, n);
  ASSERT_EQ(plan.dispatch_kv.total_seqlen, n);
  ASSERT_EQ(static_cast<int64_t>(plan.ranks.size()), c.cp);
  std::map<int64_t, std::vector<int64_t>> send_ids;  // (stage * cp + src) * cp + dst -> tokens
  for (const RankPlan& rp : plan.ranks) {
    const int64_t me = rp.rank;
    // (c) equal chunk counts; uneven shards: at least one, at most ceil(chunks / ranks)
    for (const DispatchMeta* d : {&plan.dispatch, &plan.dispatch_kv}) {
      const int64_t chunks = static_cast<int64_t>(d->partitions[me].size());
      const int64_t n_chunks = d->num_chunks();
      if (d->total_seqlen % (d->chunk_size * c.cp) == 0) {
        ASSERT_EQ(chunks, n_chunks / c.cp);
      } else {
        ASSERT_GE(chunks, 1);
        ASSERT_LE(chunks, (n_chunks + c.cp - 1) / c.cp);
      }
    }
    ASSERT_EQ(rp.stages.size(), plan.ranks[0].stages.size());
    const std::vector<int64_t> local = row_ids(rp.host_ranges);
    ASSERT_EQ(local, plan.dispatch.position_ids(me));
    const std::vector<int64_t> local_kv = row_ids(rp.kv_host_ranges);
    ASSERT_EQ(local_kv, plan.dispatch_kv.position_ids(me));
    // (a) host + stage slices cover the mask cells in my rows exactly once.
    std::vector<int> count(nq * n, 0);
    add_cells(rp.host_slices, local, local_kv, n, count);
    std::set<int64_t> received;
    for (const StagePlan& st : rp.stages) {
      const std::vector<int64_t> recv = row_ids(st.recv_global);
      std::vector<int64_t> kv = st.reads_local ? local_kv : std::vector<int64_t>{};
      kv.insert(kv.end(), recv.begin(), recv.end());
      add_cells(st.slices, local, kv, n, count);
      // (b) each remote row once, from its owner, never a host row.
      int64_t pos = 0;
      for (int64_t src = 0; src < c.cp; ++src) {
        for (int64_t i = 0; i < st.recv_counts[src]; ++i, ++pos) {
          ASSERT_EQ(plan.dispatch_kv.owner(recv[pos]), src);
          ASSERT_NE(src, me);
          ASSERT_TRUE(received.insert(recv[pos]).second) << "row " << recv[pos] << " twice";
        }
      }
      ASSERT_EQ(pos, static_cast<int64_t>(recv.size()));
    }
    std::set<int64_t> mine(local_kv.begin(), local_kv.end()), needed;
    int64_t local_cells = 0, remote_cells = 0;
    for (int64_t q : local) {
      for (int64_t k = 0; k < n; ++k) {
        ASSERT_EQ(count[q * n + k], dense[q * n + k]) << "rank " << me << " cell " << q << "," << k;
        if (dense[q * n + k] && !mine.count(k)) needed.insert(k);
        if (dense[q * n + k]) ++(mine.count(k) ? local_cells : remote_cells);
      }
    }
    ASSERT_EQ(rp.host_area, local_cells) << "rank " << me;
    ASSERT_EQ(rp.remote_area, remote_cells) << "rank " << me;
    const std::set<int64_t> my_q(local.begin(), local.end());
    for (int64_t q = 0; q < nq; ++q) {
      if (my_q.count(q)) continue;
      for (int64_t k = 0; k < n; ++k) ASSERT_EQ(count[q * n + k], 0);
    }
    ASSERT_EQ(received, needed) << "rank " << me << " receives rows it does not need";
    // (d) degree 0 is one stage over [local; received] rows and no host stage.
    if (plan.degree == 0) {
      ASSERT_TRUE(rp.host_slices.empty());
      ASSERT_EQ(rp.stages.size(), 1u);
      ASSERT_TRUE(rp.stages[0].reads_local);
    }
    for (const StagePlan& st : rp.stages) ASSERT_EQ(st.reads_local, plan.degree == 0);
    // Send buffers, to check against the receivers below.
    for (size_t s = 0; s < rp.stages.size(); ++s) {
      const StagePlan& st = rp.stages[s];
      int64_t pos = 0;
      const std::vector<int64_t> gathered = [&] {
        std::vector<int64_t> g;
        for (const AttnRange& r : st.send_rows)
          for (int64_t x = r.start; x < r.end; ++x) g.push_back(local_kv[x]);
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

}  // namespace magi::testing
