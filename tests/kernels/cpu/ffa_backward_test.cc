// CPU FFA backward against the dense fp64 reference. The kernel is fed the reference out and
// lse (as the forward would store them) and adds into prefilled accumulators.
//
// Tolerance: gradients are fp32/fp64 accumulators, so they follow the accumulation rule of
// ffa_case.h: |got - prefill - ref| <= u * |prefill + ref| + tol * max(max|ref|, floor),
// u = unit roundoff of the accumulator, tol = 1e-10 for fp64 inputs and 1e-5 otherwise, and
// floor = 1% of the size a gradient has when the softmax is spread (see grad_floor). When
// `out` is stored in bf16/fp16, Delta = rowsum(dO * O) carries the output's rounding, so the
// reference takes Delta from the same rounded output.
#include <gtest/gtest.h>

#include "kernels/cpu/ffa_case.h"
#include "testing/seed.h"

namespace magi {
namespace {

using testing::AttnCase;
using testing::HostTensor;

struct Grads {
  HostTensor dq, dk, dv;
  std::vector<double> dq0, dk0, dv0;  // prefilled values
};

/// Accumulators prefilled with random values, which the kernel must keep and add to.
Grads make_grads(std::mt19937_64& rng, const AttnCase& c, DType dtype) {
  Grads g{HostTensor(dtype, {c.spec.sq, c.spec.hq, c.spec.d}),
          HostTensor(dtype, {c.spec.sk, c.spec.hkv, c.spec.d}),
          HostTensor(dtype, {c.spec.sk, c.spec.hkv, c.spec.vd()}),
          {},
          {},
          {}};
  for (auto [t, v] : {std::pair{&g.dq, &g.dq0}, {&g.dk, &g.dk0}, {&g.dv, &g.dv0}}) {
    t->set(testing::random_values(rng, t->numel()));
    *v = t->get();
  }
  return g;
}

void run_backward(const AttnCase& c, std::span<const AttnSlice> slices, const HostTensor& out,
                  const HostTensor& lse, Grads& g) {
  ffa_backward(c.tq.view(), c.tk.view(), c.tv.view(), out.view(), lse.view(), c.tdout.view(),
               slices, c.opts(), g.dq.view(), g.dk.view(), g.dv.view());
}

/// The reference out and lse stored in the given dtypes.
std::pair<HostTensor, HostTensor> stored_forward(const AttnCase& c, DType out_dtype,
                                                 DType lse_dtype) {
  const testing::DenseForward f = testing::dense_forward(c.spec, c.q, c.k, c.v, c.mask);
  HostTensor out(out_dtype, {c.spec.sq, c.spec.hq, c.spec.vd()}),
      lse(lse_dtype, {c.spec.sq, c.spec.hq});
  out.set(f.out);
  lse.set(f.lse);
  return {std::move(out), std::move(lse)};
}

/// Least scale of the norm-wise measure. Inputs are O(1), so dP ~ sqrt(dv) and dQ, dK ~
/// softmax_scale * sqrt(dv) when the softmax is spread; when it is nearly one-hot, dP - Delta
/// cancels and the gradients shrink towards 0 while keeping the rounding error of that size.
double grad_floor(const AttnCase& c, bool key_or_query_grad) {
  return 0.01 * (key_or_query_grad ? c.spec.scale() * std::sqrt(double(c.spec.vd())) : 1.0);
}

/// Checks the added gradients against the reference (with Delta from `out_for_delta` when
/// given); returns the worst error relative to max(max|ref|, grad_floor). `calls`: backward
/// calls that added into the accumulators, each rounding them once.
double check_grads(const AttnCase& c, const Grads& g,
                   const std::vector<double>* out_for_delta = nullptr, int calls = 1) {
  const testing::DenseGrads ref =
      testing::dense_backward(c.spec, c.q, c.k, c.v, c.dout, c.mask, out_for_delta);
  const double tol = testing::accum_tolerance(c.dtype);
  double worst = 0;
  const testing::GradSlack slack = testing::cancel_slack(c.spec, ref, c.dtype == DType::kFloat64);
  auto check = [&](const char* name, const HostTensor& t, const std::vector<double>& before,
                   const std::vector<double>& want, const std::vector<double>& cancel) {
    const std::vector<double> got = t.get();
    const double scale = std::max(testing::max_abs(want), grad_floor(c, name[1] != 'v'));
    const double u = testing::unit_roundoff(t.view().dtype);
    double err = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_FALSE(std::isnan(got[i])) << name << " of " << c.describe();
      // NOTE: the accumulator rounds before + grad once per call; that is storage, not
      // kernel, error (a partial sum is at most |before| + scale in size); and the arithmetic's
      // rounding where the gradient's terms cancel (testing::cancel_slack).
      const double excess = std::abs(got[i] - before[i] - want[i]) -
                            u * std::abs(before[i] + want[i]) -
                            (calls - 1) * u * (std::abs(before[i]) + scale) - cancel[i];
      err = std::max(err, excess);
    }
    EXPECT_LE(err, tol * scale) << name << " of " << c.describe();
    worst = std::max(worst, err / scale);
  };
  check("dq", g.dq, g.dq0, ref.dq, slack.dq);
  check("dk", g.dk, g.dk0, ref.dk, slack.dk);
  check("dv", g.dv, g.dv0, ref.dv, slack.dv);
  return worst;
}

TEST(FfaBackwardCpu, MatchesDenseReferenceOnRandomMasks) {
  std::mt19937_64 rng(testing::seed(77));
  const DType dtypes[] = {DType::kFloat64, DType::kFloat32, DType::kBFloat16, DType::kFloat16};
  double worst[4] = {};
  for (int iter = 0; iter < 400; ++iter) {
    const AttnCase c = testing::random_case(rng, dtypes[iter % 4]);
    const DType wide = c.dtype == DType::kFloat64 ? DType::kFloat64 : DType::kFloat32;
    const auto [out, lse] = stored_forward(c, wide, wide);
    Grads g = make_grads(rng, c, wide);
    run_backward(c, c.slices, out, lse, g);
    worst[iter % 4] = std::max(worst[iter % 4], check_grads(c, g));
    if (HasFailure()) return;
  }
  std::cout << "[coverage] backward: 400 random cases; worst relative error fp64 " << worst[0]
            << ", fp32 " << worst[1] << ", bf16 " << worst[2] << ", fp16 " << worst[3] << "\n";
}

// Delta from an output rounded to 16 bits.
TEST(FfaBackwardCpu, OutInSixteenBits) {
  std::mt19937_64 rng(testing::seed(12));
  for (int iter = 0; iter < 100; ++iter) {
    const DType dtype = iter % 2 ? DType::kBFloat16 : DType::kFloat16;
    const AttnCase c = testing::random_case(rng, dtype);
    const auto [out, lse] = stored_forward(c, dtype, DType::kFloat32);
    Grads g = make_grads(rng, c, DType::kFloat32);
    run_backward(c, c.slices, out, lse, g);
    const std::vector<double> rounded_out = out.get();
    check_grads(c, g, &rounded_out);
    if (HasFailure()) return;
  }
}

// Enough rows for several work items per kv head (private dK/dV buffers summed at the end).
TEST(FfaBackwardCpu, LargerMasksAcrossWorkItems) {
  std::mt19937_64 rng(testing::seed(4));
  for (DType dtype : {DType::kFloat64, DType::kFloat32}) {
    testing::DenseAttnSpec s{.sq = 600, .sk = 600, .hq = 2, .hkv = 1, .d = 24, .softcap = 2.0};
    const AttnCase c = testing::make_case(rng, dtype, s, testing::random_varlen_slices(rng, 600));
    const auto [out, lse] = stored_forward(c, dtype, dtype);
    Grads g = make_grads(rng, c, dtype);
    run_backward(c, c.slices, out, lse, g);
    check_grads(c, g);
  }
}

// Gradients over two disjoint cell sets (same final out and lse) sum to the full gradient.
TEST(FfaBackwardCpu, KeySplitSumsToFullGradient) {
  std::mt19937_64 rng(testing::seed(21));
  for (int iter = 0; iter < 100; ++iter) {
    const AttnCase c = testing::random_case(rng, iter % 2 ? DType::kFloat32 : DType::kFloat64);
    const DType wide = c.dtype;
    std::vector<AttnSlice> a, b;
    const int64_t cut = std::uniform_int_distribution<int64_t>(0, c.spec.sk)(rng);
    for (const AttnSlice& s : c.slices) {
      for (const AttnSlice& p : clip(s, {0, c.spec.sq}, {0, cut})) a.push_back(p);
      for (const AttnSlice& p : clip(s, {0, c.spec.sq}, {cut, c.spec.sk})) b.push_back(p);
    }
    const auto [out, lse] = stored_forward(c, wide, wide);
    Grads g = make_grads(rng, c, wide);
    run_backward(c, a, out, lse, g);
    run_backward(c, b, out, lse, g);
    check_grads(c, g, nullptr, 2);
    if (HasFailure()) return;
  }
}

// Rows without keys get no gradient, even when the given lse row is -inf; nothing is NaN.
TEST(FfaBackwardCpu, EmptyRowsGetNoGradient) {
  std::mt19937_64 rng(testing::seed(6));
  testing::DenseAttnSpec s{.sq = 10, .sk = 6, .hq = 2, .hkv = 2, .d = 8};
  const AttnCase c =
      testing::make_case(rng, DType::kFloat32, s, {{{2, 5}, {0, 6}, AttnMaskType::kCausal}});
  const auto [out, lse] = stored_forward(c, DType::kFloat32, DType::kFloat32);
  Grads g = make_grads(rng, c, DType::kFloat32);
  run_backward(c, c.slices, out, lse, g);
  const std::vector<double> dq = g.dq.get();
  for (int64_t row : {0, 1, 5, 6, 9}) {
    for (int64_t i = row * 16; i < (row + 1) * 16; ++i) EXPECT_EQ(dq[i], g.dq0[i]) << row;
  }
  check_grads(c, g);

  // An lse of -inf on a row that has keys (inconsistent input) must not produce NaN.
  HostTensor bad_lse(DType::kFloat32, {s.sq, s.hq});
  bad_lse.fill(-std::numeric_limits<double>::infinity());
  Grads g2 = make_grads(rng, c, DType::kFloat32);
  run_backward(c, c.slices, out, bad_lse, g2);
  EXPECT_EQ(g2.dq.get(), g2.dq0);
  EXPECT_EQ(g2.dk.get(), g2.dk0);
  EXPECT_EQ(g2.dv.get(), g2.dv0);
}

// Two runs give bit-identical gradients (fixed work split, fixed reduction order).
TEST(FfaBackwardCpu, Deterministic) {
  std::mt19937_64 rng(testing::seed(9));
  testing::DenseAttnSpec s{.sq = 900, .sk = 700, .hq = 4, .hkv = 2, .d = 32};
  const AttnCase c =
      testing::make_case(rng, DType::kFloat32, s, testing::random_slices(rng, 900, 700, 8));
  const auto [out, lse] = stored_forward(c, DType::kFloat32, DType::kFloat32);
  std::mt19937_64 fill_a(1), fill_b(1);
  Grads a = make_grads(fill_a, c, DType::kFloat32), b = make_grads(fill_b, c, DType::kFloat32);
  run_backward(c, c.slices, out, lse, a);
  run_backward(c, c.slices, out, lse, b);
  EXPECT_EQ(a.dq.get(), b.dq.get());
  EXPECT_EQ(a.dk.get(), b.dk.get());
  EXPECT_EQ(a.dv.get(), b.dv.get());
}

}  // namespace
}  // namespace magi
