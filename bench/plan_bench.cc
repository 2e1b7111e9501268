// Planning cost: dispatch + attention plan for a varlen-causal mask of ~1000 documents.
// Run: build/default/plan_bench   (numbers go to bench/NOTES.md)
#include <benchmark/benchmark.h>

#include <random>

#include "magi/dispatch.h"
#include "magi/plan.h"

namespace {

std::vector<magi::AttnSlice> varlen_causal(int64_t total, int64_t mean_doc) {
  std::mt19937_64 rng(0);
  std::vector<magi::AttnSlice> s;
  for (int64_t pos = 0; pos < total;) {
    const int64_t len = std::min<int64_t>(total - pos, mean_doc / 2 + rng() % mean_doc);
    s.push_back({{pos, pos + len}, {pos, pos + len}, magi::AttnMaskType::kCausal});
    pos += len;
  }
  return s;
}

// state.range(0): cp size; range(1): tokens; range(2): 1 = every rank's plan, 0 = rank 0's.
void BM_Plan(benchmark::State& state) {
  const int64_t cp = state.range(0), total = state.range(1);
  const bool all = state.range(2) != 0;
  const int64_t chunk = 512;
  const auto slices = varlen_causal(total, total / 1000);
  magi::OverlapConfig overlap;
  overlap.degree = 2;
  for (auto _ : state) {
    const magi::DispatchMeta d = magi::solve_dispatch(slices, total, chunk, cp, {});
    const magi::Plan p =
        all ? magi::make_plan(slices, d, overlap) : magi::make_rank_plan(slices, d, overlap, 0);
    benchmark::DoNotOptimize(p.ranks.size());
  }
  state.counters["slices"] = static_cast<double>(slices.size());
}

void BM_Dispatch(benchmark::State& state) {
  const int64_t cp = state.range(0), total = state.range(1);
  const auto slices = varlen_causal(total, total / 1000);
  for (auto _ : state) {
    benchmark::DoNotOptimize(magi::solve_dispatch(slices, total, 512, cp, {}).perm.size());
  }
}

constexpr int64_t kM = 1 << 20;  // 1,048,576 tokens = 2048 chunks of 512

}  // namespace

BENCHMARK(BM_Dispatch)->Args({64, kM})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Plan)
    ->ArgsProduct({{8, 64, 256}, {kM}, {0, 1}})
    ->Args({64, kM / 4, 0})
    ->Args({64, kM / 2, 0})
    ->Args({64, 2 * kM, 0})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
