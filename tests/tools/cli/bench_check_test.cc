// magi-attn bench's check (tools/cli/bench_check.h): correct kernel results pass, and the
// defects it exists to catch fail it, at the 16-bit tolerances too (a block of keys dropped, a
// skipped dq row, a wrong dk row, a non-empty empty row, a NaN).
#include "bench_check.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "magi/ffa.h"
#include "testing/host_tensor.h"

namespace magi::cli {
namespace {

using testing::HostTensor;

constexpr int64_t kHq = 4, kHkv = 2, kD = 32, kDv = 16;

/// A mask's inputs and float64 kernel results.
struct KernelRun {
  int64_t seqlen;
  std::vector<double> q, k, v, dout, out, lse, dq, dk, dv;
  CheckData data() const {
    return {q, k, v, dout, out, lse, dq, dk, dv, seqlen, kHq, kHkv, kD, kDv};
  }
};

/// The CPU kernels in float64 over `kernel_slices` (which may differ from the mask checked).
KernelRun run(int64_t S, const std::vector<AttnSlice>& kernel_slices) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal;
  auto randn = [&](std::vector<int64_t> shape) {
    HostTensor t(DType::kFloat64, shape);
    std::vector<double> v(static_cast<size_t>(t.numel()));
    for (double& x : v) x = normal(rng);
    t.set(v);
    return t;
  };
  const HostTensor q = randn({S, kHq, kD}), k = randn({S, kHkv, kD}), v = randn({S, kHkv, kDv}),
                   dout = randn({S, kHq, kDv});
  HostTensor out(DType::kFloat64, {S, kHq, kDv}), lse(DType::kFloat64, {S, kHq}),
      dq(DType::kFloat64, {S, kHq, kD}), dk(DType::kFloat64, {S, kHkv, kD}),
      dv(DType::kFloat64, {S, kHkv, kDv});
  ffa_forward(q.view(), k.view(), v.view(), kernel_slices, {}, out.view(), lse.view());
  ffa_backward(q.view(), k.view(), v.view(), out.view(), lse.view(), dout.view(), kernel_slices, {},
               dq.view(), dk.view(), dv.view());
  return {S,         q.get(),   k.get(),  v.get(),  dout.get(),
          out.get(), lse.get(), dq.get(), dk.get(), dv.get()};
}

// Rows 0..1000 causal over keys 0..1000; rows 1000..1100 see no key; keys 1100..1200 are seen
// by no row.
const std::vector<AttnSlice> kMask = {{{0, 1000}, {0, 1000}, AttnMaskType::kCausal},
                                      {{1100, 1200}, {0, 1000}, AttnMaskType::kFull}};
constexpr int64_t kS = 1200;

std::vector<int64_t> all_rows() {
  std::vector<int64_t> r(kS);
  for (int64_t i = 0; i < kS; ++i) r[i] = i;
  return r;
}

TEST(BenchCheck, CorrectResultsPass) {
  const KernelRun r = run(kS, kMask);
  const std::vector<int64_t> rows = all_rows();
  const CheckErrors e = check_results(r.data(), kMask, rows, rows);
  EXPECT_TRUE(within(e, check_tolerance(DType::kFloat64)))
      << e.out << " " << e.lse << " " << e.dq << " " << e.dk << " " << e.dv;
}

TEST(BenchCheck, DroppedKeysFailEvenAtSixteenBitTolerances) {
  // The kernels skip the last 64 keys of the full slice's rows (5 % of their keys).
  std::vector<AttnSlice> dropped = kMask;
  dropped[1].k = {0, 936};
  const KernelRun r = run(kS, dropped);
  const std::vector<int64_t> rows = check_rows(kS, 32, 3);
  const CheckErrors e = check_results(r.data(), kMask, rows, rows);
  const CheckErrors tol = check_tolerance(DType::kBFloat16);
  EXPECT_FALSE(within(e, tol));
  EXPECT_GT(e.lse, 10 * tol.lse);  // log(1000 / 936)
  EXPECT_GT(e.dk, tol.dk);         // the dropped keys' gradients are 0
}

TEST(BenchCheck, EachCorruptionFails) {
  const KernelRun good = run(kS, kMask);
  std::vector<int64_t> rows = check_rows(kS, 16, 5);
  rows.push_back(1050);  // a row that sees no key, and (as a key row) a key no row sees
  rows.push_back(1150);
  const CheckErrors tol = check_tolerance(DType::kBFloat16);
  ASSERT_TRUE(within(check_results(good.data(), kMask, rows, rows), tol));
  // A row and a key inside the causal slice, far from its first (short) rows.
  auto inside = [](int64_t r) { return r > 100 && r < 900; };
  const int64_t row = *std::find_if(rows.begin(), rows.end(), inside);
  const int64_t key = *std::find_if(rows.rbegin(), rows.rend(), inside);
  auto fails = [&](auto corrupt) {
    KernelRun r = good;
    corrupt(r);
    return !within(check_results(r.data(), kMask, rows, rows), tol);
  };
  EXPECT_TRUE(fails([&](KernelRun& r) {  // a dq row never written (an accumulator left at 0)
    std::fill_n(r.dq.begin() + row * kHq * kD, kHq * kD, 0.0);
  }));
  EXPECT_TRUE(fails([&](KernelRun& r) {  // half again on one dk row
    for (int64_t x = 0; x < kHkv * kD; ++x) r.dk[key * kHkv * kD + x] *= 1.5;
  }));
  EXPECT_TRUE(fails([&](KernelRun& r) {  // a row with no key given an output
    r.out[(1050 * kHq) * kDv] = 1e-3;
  }));
  EXPECT_TRUE(fails([&](KernelRun& r) {  // ... or a finite lse
    r.lse[1050 * kHq] = 0.0;
  }));
  EXPECT_TRUE(fails([&](KernelRun& r) {  // a key no row sees given a gradient
    r.dv[1150 * kHkv * kDv] = 1e-6;
  }));
  EXPECT_TRUE(fails([&](KernelRun& r) { r.dv[(key * kHkv + 1) * kDv] = NAN; }));
  EXPECT_TRUE(fails([&](KernelRun& r) { r.out[(row * kHq + 2) * kDv + 3] = NAN; }));
  EXPECT_TRUE(fails([&](KernelRun& r) { r.lse[row * kHq + 1] += 0.01; }));
}

TEST(BenchCheck, RowsAreDistinctAndTakeTheEnds) {
  const std::vector<int64_t> r = check_rows(1000, 10, 1);
  ASSERT_EQ(r.size(), 10u);
  EXPECT_EQ(r[0], 0);
  EXPECT_EQ(r[1], 999);
  EXPECT_EQ(r[2], 500);
  std::vector<int64_t> s = r;
  std::sort(s.begin(), s.end());
  EXPECT_EQ(std::unique(s.begin(), s.end()), s.end());
  EXPECT_EQ(check_rows(5, 100, 1).size(), 5u);  // every row, once
  EXPECT_EQ(check_rows(1, 3, 1), std::vector<int64_t>{0});
  EXPECT_TRUE(check_rows(100, 0, 1).empty());
}

}  // namespace
}  // namespace magi::cli
