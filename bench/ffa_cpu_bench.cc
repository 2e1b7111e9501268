// CPU FFA throughput on the CPU demo's shape: S = 8192 (causal or full), 8 heads, head dim 64.
// Reports achieved GFLOP/s (4 * cells * d per head forward, 10 * cells * d backward: the
// matmul work, as FlashAttention counts it). There is no CPU baseline to compare with; the
// figure to watch is the time per call (CPU time counts all threads: on a shared machine it is
// the steadier figure).
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "magi/ffa.h"

namespace {

using magi::AttnMaskType;
using magi::DType;
using magi::TensorView;

struct Problem {
  int64_t s, h, d;
  AttnMaskType type;
  std::vector<float> q, k, v, out, dout, dq, dk, dv, lse;

  Problem(int64_t s_, int64_t h_, int64_t d_, AttnMaskType t) : s(s_), h(h_), d(d_), type(t) {
    std::mt19937 rng(0);
    std::uniform_real_distribution<float> u(-1, 1);
    for (auto* x : {&q, &k, &v, &dout}) {
      x->resize(s * h * d);
      for (float& y : *x) y = u(rng);
    }
    for (auto* x : {&out, &dq, &dk, &dv}) x->assign(s * h * d, 0.f);
    lse.assign(s * h, 0.f);
  }
  TensorView view(std::vector<float>& x) {
    return TensorView::contiguous(x.data(), DType::kFloat32, {s, h, d});
  }
  std::vector<magi::AttnSlice> slices() const { return {{{0, s}, {0, s}, type}}; }
  double cells() const {
    return type == AttnMaskType::kFull ? double(s) * s : double(s) * (s + 1) / 2;
  }
};

void BM_FfaForwardCpu(benchmark::State& state) {
  Problem p(state.range(0), 8, 64, static_cast<AttnMaskType>(state.range(1)));
  const auto slices = p.slices();
  const TensorView lse = TensorView::contiguous(p.lse.data(), DType::kFloat32, {p.s, p.h});
  for (auto _ : state) {
    magi::ffa_forward(p.view(p.q), p.view(p.k), p.view(p.v), slices, {}, p.view(p.out), lse);
  }
  state.counters["GFLOP/s"] = benchmark::Counter(4.0 * p.cells() * p.h * p.d * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

void BM_FfaBackwardCpu(benchmark::State& state) {
  Problem p(state.range(0), 8, 64, static_cast<AttnMaskType>(state.range(1)));
  const auto slices = p.slices();
  const TensorView lse = TensorView::contiguous(p.lse.data(), DType::kFloat32, {p.s, p.h});
  magi::ffa_forward(p.view(p.q), p.view(p.k), p.view(p.v), slices, {}, p.view(p.out), lse);
  for (auto _ : state) {
    magi::ffa_backward(p.view(p.q), p.view(p.k), p.view(p.v), p.view(p.out), lse, p.view(p.dout),
                       slices, {}, p.view(p.dq), p.view(p.dk), p.view(p.dv));
  }
  state.counters["GFLOP/s"] = benchmark::Counter(10.0 * p.cells() * p.h * p.d * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

// Args: sequence length, mask type (1 = causal, 0 = full).
BENCHMARK(BM_FfaForwardCpu)
    ->Args({8192, 1})
    ->Args({2048, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MeasureProcessCPUTime();
BENCHMARK(BM_FfaBackwardCpu)
    ->Args({8192, 1})
    ->Args({2048, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MeasureProcessCPUTime();

}  // namespace

BENCHMARK_MAIN();
