// How far each heuristic lands from the optimum on small instances. The numbers are printed
// for the record (docs, review); the assertions are loose sanity bounds.
#include <gtest/gtest.h>

#include <iomanip>
#include <iostream>
#include <random>

#include "magi/dispatch.h"
#include "testing/random_mask.h"

namespace magi {
namespace {

struct Gap {
  const char* name;
  DispatchAlg alg;
  double sum = 0, worst = 0;
  int count = 0;
};

TEST(SolverGap, HeuristicsAgainstExact) {
  std::vector<Gap> gaps = {
      {"min_heap", {DispatchAlgType::kMinHeap}},
      {"sequential", {DispatchAlgType::kSequential}},
      {"sorted_sequential_select", {DispatchAlgType::kSortedSequentialSelect, 0.0, 1.0}},
      {"topp_heap(0.5)", {DispatchAlgType::kToppHeap, 0.5}},
  };
  std::mt19937_64 rng(91);
  int instances = 0;
  while (instances < 600) {
    const int64_t cp = std::uniform_int_distribution<int64_t>(2, 4)(rng);
    const int64_t n = cp * std::uniform_int_distribution<int64_t>(2, 16 / cp)(rng);
    const int64_t cs = std::uniform_int_distribution<int64_t>(4, 16)(rng);
    const int64_t total = n * cs;
    // Realistic packed documents most of the time, arbitrary overlapping masks otherwise.
    const auto slices = std::uniform_int_distribution<int>(0, 3)(rng)
                            ? testing::random_varlen_slices(rng, total, 6)
                            : testing::random_slices(rng, total, total, 6);
    const DispatchMeta best = solve_dispatch(slices, total, cs, cp, {DispatchAlgType::kExact});
    const auto rc = best.rank_costs();
    const int64_t optimum = *std::max_element(rc.begin(), rc.end());
    if (optimum == 0) continue;
    ++instances;
    for (Gap& g : gaps) {
      const auto r = solve_dispatch(slices, total, cs, cp, g.alg).rank_costs();
      const int64_t got = *std::max_element(r.begin(), r.end());
      ASSERT_GE(got, optimum) << g.name;  // the exact solver is never beaten
      const double ratio = static_cast<double>(got) / static_cast<double>(optimum);
      g.sum += ratio, g.worst = std::max(g.worst, ratio), ++g.count;
    }
  }
  std::cout << "max_load / optimal over " << instances << " instances (cp 2..4, <= 16 chunks)\n";
  for (const Gap& g : gaps) {
    std::cout << "  " << std::left << std::setw(26) << g.name << " mean " << std::fixed
              << std::setprecision(4) << g.sum / g.count << "  max " << g.worst << "\n";
  }
  // Loose bounds: the balancing heuristics stay close to the optimum on average and within
  // the list-scheduling factor in the worst case; no heuristic exceeds cp times the optimum.
  EXPECT_LT(gaps[0].sum / gaps[0].count, 1.10);
  EXPECT_LT(gaps[0].worst, 2.0);
  EXPECT_LT(gaps[3].sum / gaps[3].count, 1.25);
  for (const Gap& g : gaps) EXPECT_LE(g.worst, 4.0) << g.name;
}

}  // namespace
}  // namespace magi
