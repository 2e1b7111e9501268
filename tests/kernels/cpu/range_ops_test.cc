// CPU range ops against naive loops.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "kernels/range_ops.h"
#include "testing/host_tensor.h"
#include "testing/random_mask.h"
#include "testing/seed.h"

namespace magi {
namespace {

using testing::HostTensor;

constexpr int64_t kInner[] = {3, 5};  // trailing shape of every rows tensor here
constexpr int64_t kRow = 15;

std::vector<AttnRange> random_ranges(std::mt19937_64& rng, int64_t n, int count) {
  std::vector<AttnRange> out;
  for (int i = 0; i < count; ++i) out.push_back(testing::random_range(rng, n));
  return out;
}

/// Disjoint ranges covering about half of [0, n), in random order.
std::vector<AttnRange> disjoint_ranges(std::mt19937_64& rng, int64_t n) {
  std::vector<AttnRange> out;
  for (int64_t s = 0; s < n;) {
    const int64_t len = std::uniform_int_distribution<int64_t>(1, 40)(rng);
    if (std::uniform_int_distribution<int>(0, 1)(rng)) out.push_back({s, std::min(n, s + len)});
    s += len;
  }
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

int64_t total_size(const std::vector<AttnRange>& rs) {
  int64_t n = 0;
  for (const AttnRange& r : rs) n += r.size();
  return n;
}

TEST(RangeOpsCpu, GatherMatchesNaiveLoop) {
  std::mt19937_64 rng(testing::seed(1));
  for (int iter = 0; iter < 200; ++iter) {
    const DType dtype = iter % 3 == 0   ? DType::kBFloat16
                        : iter % 3 == 1 ? DType::kFloat64
                                        : DType::kInt64;
    const int64_t n = std::uniform_int_distribution<int64_t>(1, 60)(rng);
    const auto ranges = random_ranges(rng, n, std::uniform_int_distribution<int>(0, 5)(rng));
    // src rows with a dim-0 stride larger than the row (3 unused elements per row).
    HostTensor storage(dtype, {n, kRow + 3});
    storage.set(testing::random_values(rng, n * (kRow + 3), -100, 100));
    TensorView src = storage.view();
    src.ndim = 3;
    src.shape = {n, kInner[0], kInner[1], 0};
    src.strides = {kRow + 3, kInner[1], 1, 0};
    HostTensor dst(dtype, {total_size(ranges), kInner[0], kInner[1]});
    range_gather(src, ranges, dst.view());

    const std::vector<double> s = storage.get(), got = dst.get();
    int64_t o = 0;
    for (const AttnRange& r : ranges) {
      for (int64_t row = r.start; row < r.end; ++row, ++o) {
        for (int64_t e = 0; e < kRow; ++e) ASSERT_EQ(got[o * kRow + e], s[row * (kRow + 3) + e]);
      }
    }
  }
}

/// Naive scatter-add: rows added in range order, each sum rounded to dst's dtype.
std::vector<double> naive_scatter_add(const HostTensor& src, const std::vector<AttnRange>& ranges,
                                      const HostTensor& dst) {
  const std::vector<double> s = src.get();
  std::vector<double> d = dst.get();
  HostTensor one(dst.view().dtype, {1});
  int64_t o = 0;
  for (const AttnRange& r : ranges) {
    for (int64_t row = r.start; row < r.end; ++row, ++o) {
      for (int64_t e = 0; e < kRow; ++e) {
        double& x = d[row * kRow + e];
        // fp32 arithmetic for 16-bit and fp32 dst, fp64 for fp64 dst.
        x = dst.view().dtype == DType::kFloat64 ? x + s[o * kRow + e]
                                                : double(float(x) + float(s[o * kRow + e]));
        one.set({x});
        x = one.get()[0];
      }
    }
  }
  return d;
}

TEST(RangeOpsCpu, ScatterAddMatchesNaiveLoop) {
  std::mt19937_64 rng(testing::seed(2));
  const std::pair<DType, DType> kinds[] = {{DType::kFloat32, DType::kFloat32},
                                           {DType::kFloat32, DType::kFloat64},
                                           {DType::kBFloat16, DType::kFloat32},
                                           {DType::kFloat32, DType::kBFloat16}};
  for (int iter = 0; iter < 200; ++iter) {
    const auto [src_t, dst_t] = kinds[iter % 4];
    const int64_t n = std::uniform_int_distribution<int64_t>(1, 60)(rng);
    // Even iterations: overlapping ranges (one thread, in order); odd: disjoint (threads).
    const auto ranges =
        iter % 2 ? disjoint_ranges(rng, iter % 8 == 1 ? 30000 : n) : random_ranges(rng, n, 5);
    const int64_t rows = iter % 8 == 1 ? 30000 : n;
    HostTensor src(src_t, {total_size(ranges), kInner[0], kInner[1]});
    HostTensor dst(dst_t, {rows, kInner[0], kInner[1]});
    src.set(testing::random_values(rng, src.numel()));
    dst.set(testing::random_values(rng, dst.numel()));
    const std::vector<double> want = naive_scatter_add(src, ranges, dst);
    range_scatter_add(src.view(), ranges, dst.view());
    ASSERT_EQ(dst.get(), want) << "iteration " << iter;
  }
}

TEST(RangeOpsCpu, MergeOutLseMatchesFormula) {
  std::mt19937_64 rng(testing::seed(3));
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();
  const int64_t n = 40, h = 3, d = 8;
  for (DType acc_t : {DType::kFloat64, DType::kFloat32}) {
    HostTensor o1(acc_t, {n, h, d}), l1(acc_t, {n, h}), o2(DType::kBFloat16, {n, h, d}),
        l2(DType::kFloat32, {n, h});
    o1.set(testing::random_values(rng, o1.numel()));
    o2.set(testing::random_values(rng, o2.numel()));
    std::vector<double> lse1 = testing::random_values(rng, n * h, -3, 5);
    std::vector<double> lse2 = testing::random_values(rng, n * h, -3, 5);
    for (int64_t i = 0; i < n * h; i += 4) lse1[i] = kNegInf;           // empty accumulator
    for (int64_t i = 0; i < n * h; i += 3) lse2[i] = kNegInf;           // empty partial
    for (int64_t i = 0; i < n; ++i) lse2[i * h + 1] = lse1[i * h + 1];  // equal lse
    l1.set(lse1);
    l2.set(lse2);
    const std::vector<double> a = o1.get(), b = o2.get(), la = l1.get(), lb = l2.get();
    merge_out_lse(o1.view(), l1.view(), o2.view(), l2.view());
    const std::vector<double> got_o = o1.get(), got_l = l1.get();
    const double tol = acc_t == DType::kFloat64 ? 1e-14 : 1e-6;
    for (int64_t i = 0; i < n * h; ++i) {
      double lse = la[i], w1 = 1, w2 = 0;
      if (lb[i] != kNegInf && la[i] == kNegInf) {
        lse = lb[i], w1 = 0, w2 = 1;
      } else if (lb[i] != kNegInf) {
        lse = std::max(la[i], lb[i]) + std::log1p(std::exp(-std::abs(la[i] - lb[i])));
        w1 = std::exp(la[i] - lse), w2 = std::exp(lb[i] - lse);
      }
      if (lse == kNegInf) {
        ASSERT_EQ(got_l[i], kNegInf);
      } else {
        ASSERT_NEAR(got_l[i], lse, tol * std::max(1.0, std::abs(lse))) << i;
      }
      for (int64_t e = 0; e < d; ++e) {
        const double want = w1 * a[i * d + e] + w2 * b[i * d + e];
        ASSERT_FALSE(std::isnan(got_o[i * d + e]));
        ASSERT_NEAR(got_o[i * d + e], want, tol) << i;
      }
    }
  }
}

}  // namespace
}  // namespace magi
