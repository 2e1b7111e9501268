#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <random>
#include <string>

#include "dispatch/solvers.h"
#include "magi/check.h"
#include "magi/dispatch.h"
#include "testing/random_mask.h"

namespace magi {
namespace {

std::vector<DispatchAlg> all_algs(bool with_exact) {
  std::vector<DispatchAlg> algs = {
      {DispatchAlgType::kMinHeap},
      {DispatchAlgType::kSequential},
      {DispatchAlgType::kSortedSequentialSelect, 0.0, 1.0},
      {DispatchAlgType::kSortedSequentialSelect, 0.0, 0.4},
      {DispatchAlgType::kToppHeap, 0.5},
      {DispatchAlgType::kToppHeap, 1.0},
  };
  if (with_exact) algs.push_back({DispatchAlgType::kExact});
  return algs;
}

// A padded mask: a random mask on the first `raw` rows, pad rows attend to nothing.
struct Instance {
  std::vector<AttnSlice> slices;
  int64_t total, chunk_size, cp_size;
};

Instance random_instance(std::mt19937_64& rng) {
  Instance in;
  in.cp_size = std::uniform_int_distribution<int64_t>(1, 8)(rng);
  in.chunk_size = std::uniform_int_distribution<int64_t>(1, 6)(rng);
  const int64_t raw = std::uniform_int_distribution<int64_t>(1, 48)(rng);
  in.total = raw + compute_pad_size(raw, in.cp_size, 64, in.chunk_size);
  in.slices = std::uniform_int_distribution<int>(0, 1)(rng)
                  ? testing::random_slices(rng, raw, raw, 6)
                  : testing::random_varlen_slices(rng, raw, 6);
  return in;
}

TEST(SolveDispatch, LayoutInvariantsForEveryAlgorithm) {
  std::mt19937_64 rng(71);
  for (int iter = 0; iter < 1500; ++iter) {
    const Instance in = random_instance(rng);
    const int64_t n = in.total / in.chunk_size, per = n / in.cp_size;
    const auto costs = chunk_costs(in.slices, in.total, in.chunk_size);
    for (const DispatchAlg& alg : all_algs(n <= 16)) {
      const DispatchMeta m = solve_dispatch(in.slices, in.total, in.chunk_size, in.cp_size, alg);
      SCOPED_TRACE(to_string(alg.type) + " iteration " + std::to_string(iter));
      ASSERT_EQ(m.costs, costs);
      ASSERT_EQ(m.num_chunks(), n);
      for (int64_t r = 0; r < in.cp_size; ++r) ASSERT_EQ(m.shard_seqlen(r), per * in.chunk_size);
      ASSERT_EQ(static_cast<int64_t>(m.partitions.size()), in.cp_size);
      std::vector<int64_t> perm;
      for (const auto& p : m.partitions) {
        ASSERT_EQ(static_cast<int64_t>(p.size()), per);
        ASSERT_TRUE(std::is_sorted(p.begin(), p.end()));
        perm.insert(perm.end(), p.begin(), p.end());
      }
      ASSERT_EQ(m.perm, perm);
      ASSERT_EQ(static_cast<int64_t>(m.unperm.size()), n);
      for (int64_t pos = 0; pos < n; ++pos) ASSERT_EQ(m.unperm[m.perm[pos]], pos);
      int64_t sum = 0;
      for (int64_t c : m.rank_costs()) sum += c;
      ASSERT_EQ(sum, union_area(in.slices));
    }
  }
}

TEST(SolveDispatch, RunsTheChosenSolver) {
  const std::vector<AttnSlice> causal = {{{0, 16}, {0, 16}, AttnMaskType::kCausal}};
  const DispatchMeta seq = solve_dispatch(causal, 16, 2, 2, {DispatchAlgType::kSequential});
  EXPECT_EQ(seq.partitions, (std::vector<std::vector<int64_t>>{{0, 1, 2, 3}, {4, 5, 6, 7}}));
  EXPECT_EQ(seq.costs, (std::vector<int64_t>{3, 7, 11, 15, 19, 23, 27, 31}));
  // MinHeap: 31 | 27; 23 -> 1 (50); 19 -> 0 (50); 15 -> 0 (65); 11 -> 1 (61); 7 -> 1 (68,
  // full); 3 -> 0 (68).
  const DispatchMeta heap = solve_dispatch(causal, 16, 2, 2, {});
  EXPECT_EQ(heap.partitions, (std::vector<std::vector<int64_t>>{{0, 3, 4, 7}, {1, 2, 5, 6}}));
  EXPECT_EQ(heap.rank_costs(), (std::vector<int64_t>{68, 68}));
  EXPECT_EQ(seq.rank_costs(), (std::vector<int64_t>{36, 100}));
  const DispatchMeta exact = solve_dispatch(causal, 16, 2, 2, {DispatchAlgType::kExact});
  EXPECT_EQ(exact.rank_costs(), (std::vector<int64_t>{68, 68}));
}

// Uneven shards: no padding, ceil(total / chunk) chunks (the last one short), at most one chunk
// more on some ranks, every rank non-empty; the union's cells are all counted.
TEST(SolveDispatch, UnevenShardLayouts) {
  std::mt19937_64 rng(72);
  int64_t rejected = 0, solved = 0;
  for (int iter = 0; iter < 1500; ++iter) {
    const int64_t cp = std::uniform_int_distribution<int64_t>(1, 8)(rng);
    const int64_t cs = std::uniform_int_distribution<int64_t>(1, 6)(rng);
    const int64_t total = std::uniform_int_distribution<int64_t>(cp * cs - cs + 1, 60)(rng);
    const auto slices = iter % 2 ? testing::random_slices(rng, total, total, 6)
                                 : testing::random_varlen_slices(rng, total, 6);
    const int64_t n = (total + cs - 1) / cs;
    for (DispatchAlgType t : {DispatchAlgType::kMinHeap, DispatchAlgType::kSequential}) {
      SCOPED_TRACE(to_string(t) + " iteration " + std::to_string(iter));
      DispatchMeta m;
      try {
        m = solve_dispatch(slices, total, cs, cp, {t}, true);
      } catch (const Error& e) {
        // Only MinHeap's pile of zero-cost chunks may leave a rank empty.
        ASSERT_EQ(t, DispatchAlgType::kMinHeap) << e.what();
        ASSERT_NE(std::string(e.what()).find("without a chunk"), std::string::npos) << e.what();
        ++rejected;
        continue;
      }
      ++solved;
      ASSERT_EQ(m.total_seqlen, total);
      ASSERT_EQ(m.num_chunks(), n);
      ASSERT_EQ(m.costs, chunk_costs(slices, total, cs));
      int64_t rows = 0, sum = 0;
      for (int64_t r = 0; r < cp; ++r) {
        const auto& p = m.partitions[r];
        ASSERT_GE(p.size(), 1u);
        ASSERT_LE(static_cast<int64_t>(p.size()), (n + cp - 1) / cp);
        rows += m.shard_seqlen(r);
      }
      for (int64_t c : m.rank_costs()) sum += c;
      ASSERT_EQ(rows, total);
      ASSERT_EQ(sum, union_area(slices));
      for (int64_t pos = 0; pos < n; ++pos) ASSERT_EQ(m.unperm[m.perm[pos]], pos);
    }
  }
  EXPECT_GT(solved, 2000);
  std::printf("uneven dispatch: %lld solved, %lld MinHeap layouts with an empty rank rejected\n",
              static_cast<long long>(solved), static_cast<long long>(rejected));
}

void expect_error_naming(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error for " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(SolveKvDispatch, BalancesKvChunksByTheCellsInTheirColumns) {
  std::mt19937_64 rng(9);
  for (int iter = 0; iter < 200; ++iter) {
    const int64_t cp = 1 + static_cast<int64_t>(rng() % 4),
                  chunk = 1 + static_cast<int64_t>(rng() % 4);
    const int64_t sq = 1 + static_cast<int64_t>(rng() % 30),
                  sk = 1 + static_cast<int64_t>(rng() % 30);
    const int64_t total_kv = sk + (chunk * cp - sk % (chunk * cp)) % (chunk * cp);
    const auto slices = testing::random_slices(rng, sq, sk, 5);
    const DispatchMeta m = solve_kv_dispatch(slices, total_kv, chunk, cp, {});
    ASSERT_EQ(m.total_seqlen, total_kv);
    const auto dense = testing::dense_mask(slices, sq, total_kv);
    for (int64_t c = 0; c < m.num_chunks(); ++c) {
      int64_t cells = 0;
      for (int64_t q = 0; q < sq; ++q)
        for (int64_t k = c * chunk; k < (c + 1) * chunk; ++k) cells += dense[q * total_kv + k];
      ASSERT_EQ(m.costs[c], cells) << "chunk " << c;
    }
  }
}

TEST(SolveDispatch, BadArgumentsAreNamed) {
  const std::vector<AttnSlice> s = {{{0, 8}, {0, 8}, AttnMaskType::kCausal}};
  expect_error_naming([&] { solve_dispatch(s, 8, 2, 0, {}); }, "cp_size = 0");
  expect_error_naming([&] { solve_dispatch(s, 8, 2, -3, {}); }, "cp_size = -3");
  expect_error_naming([&] { solve_dispatch(s, 8, 0, 2, {}); }, "chunk_size = 0");
  expect_error_naming([&] { solve_dispatch(s, 1000, 512, 2, {}); }, "total_seqlen = 1000");
  expect_error_naming([&] { solve_dispatch(s, 1000, 512, 2, {}); }, "512 * 2 = 1024");
  expect_error_naming([&] { solve_dispatch(s, 0, 2, 2, {}); }, "total_seqlen = 0");
  // Uneven shards: fewer chunks than ranks (a rank would hold no token), an equal-count solver,
  // and MinHeap piling zero-cost chunks onto the low ranks (5 empty chunks, cap 2: 2, 2, 1, 0).
  expect_error_naming([&] { solve_dispatch(s, 5, 2, 4, {}, true); }, "total_seqlen = 5");
  expect_error_naming([&] { solve_dispatch(s, 5, 2, 4, {}, true); }, "cp_size = 4");
  expect_error_naming([&] { solve_dispatch(s, 8, 2, 2, {DispatchAlgType::kToppHeap}, true); },
                      "uneven_shard");
  expect_error_naming([&] { solve_dispatch(s, 8, 2, 2, {DispatchAlgType::kExact}, true); },
                      "exact");
  expect_error_naming([&] { solve_dispatch({}, 5, 1, 4, {}, true); }, "rank 3 without a chunk");
  EXPECT_EQ(solve_dispatch({}, 5, 1, 4, {DispatchAlgType::kSequential}, true).shard_seqlens(),
            (std::vector<int64_t>{2, 1, 1, 1}));
  expect_error_naming([&] { solve_dispatch(s, 4, 2, 2, {}); }, "q_ranges[0]");
  // More chunks than the planner can hold: refused before anything is allocated per chunk.
  const int64_t huge = int64_t{1} << 40;
  const std::vector<AttnSlice> all = {{{0, huge}, {0, huge}, AttnMaskType::kCausal}};
  expect_error_naming([&] { solve_dispatch(all, huge, 512, 8, {}); }, "2147483648 chunks");
  expect_error_naming([&] { solve_dispatch(all, huge, 512, 8, {}, true); }, "chunk_size = 512");
  const std::vector<AttnSlice> big = {{{0, 64}, {0, 64}, AttnMaskType::kCausal}};
  expect_error_naming([&] { solve_dispatch(big, 64, 2, 2, {DispatchAlgType::kExact}); },
                      "num_chunks = 32");
  expect_error_naming(
      [&] {
        solve_dispatch(s, 8, 2, 2, {DispatchAlgType::kToppHeap, -0.5});
      },
      "top_p = -0.5");
  expect_error_naming(
      [&] {
        solve_dispatch(s, 8, 2, 2, {DispatchAlgType::kSortedSequentialSelect, 0, 2.0});
      },
      "allocation_ratio = 2");
}

}  // namespace
}  // namespace magi
