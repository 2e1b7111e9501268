// Forward accumulate mode: partial results over disjoint key sets merge into the result of one
// call over their union.
#include <gtest/gtest.h>

#include "kernels/cpu/ffa_case.h"
#include "testing/seed.h"

namespace magi {
namespace {

using testing::AttnCase;
using testing::HostTensor;

/// Splits the mask's cells into two disjoint slice lists: by a key column cut when `by_column`,
/// else by giving each piece of the disjoint form to a random side (interleaved keys per row).
std::pair<std::vector<AttnSlice>, std::vector<AttnSlice>> split_cells(std::mt19937_64& rng,
                                                                      const AttnCase& c,
                                                                      bool by_column) {
  std::vector<AttnSlice> a, b;
  if (by_column) {
    const int64_t cut = std::uniform_int_distribution<int64_t>(0, c.spec.sk)(rng);
    for (const AttnSlice& s : c.slices) {
      for (const AttnSlice& p : clip(s, {0, c.spec.sq}, {0, cut})) a.push_back(p);
      for (const AttnSlice& p : clip(s, {0, c.spec.sq}, {cut, c.spec.sk})) b.push_back(p);
    }
  } else {
    for (const AttnSlice& p : make_disjoint(c.slices)) {
      (std::uniform_int_distribution<int>(0, 1)(rng) ? a : b).push_back(p);
    }
  }
  return {a, b};
}

struct Accumulators {
  HostTensor out, lse;
};

Accumulators make_accumulators(const AttnCase& c, DType dtype) {
  Accumulators acc{HostTensor(dtype, {c.spec.sq, c.spec.hq, c.spec.vd()}),
                   HostTensor(dtype, {c.spec.sq, c.spec.hq})};
  acc.lse.fill(-std::numeric_limits<double>::infinity());
  return acc;
}

TEST(FfaForwardCpuAccumulate, MergedPartialsEqualOneCall) {
  std::mt19937_64 rng(testing::seed(31));
  const DType dtypes[] = {DType::kFloat64, DType::kFloat32, DType::kBFloat16, DType::kFloat16};
  for (int iter = 0; iter < 200; ++iter) {
    const AttnCase c = testing::random_case(rng, dtypes[iter % 4]);
    const DType acc_dtype = c.dtype == DType::kFloat64 ? DType::kFloat64 : DType::kFloat32;
    const auto [a, b] = split_cells(rng, c, iter % 2 == 0);
    Accumulators acc = make_accumulators(c, acc_dtype);
    // The first partial overwrites (accumulate = false), the second merges.
    ffa_forward(c.tq.view(), c.tk.view(), c.tv.view(), a, c.opts(), acc.out.view(), acc.lse.view(),
                false);
    ffa_forward(c.tq.view(), c.tk.view(), c.tv.view(), b, c.opts(), acc.out.view(), acc.lse.view(),
                true);
    const testing::DenseForward ref = testing::dense_forward(c.spec, c.q, c.k, c.v, c.mask);
    testing::expect_close(acc.out.get(), ref.out, c.dtype, acc_dtype, "out of " + c.describe());
    testing::expect_close(acc.lse.get(), ref.lse, c.dtype, acc_dtype, "lse of " + c.describe(),
                          1.0);
    if (HasFailure()) return;
  }
}

// Starting from empty accumulators (out = 0, lse = -inf), three merges over a three-way key
// split equal one call; merging a partial without keys leaves the accumulators bit-identical.
TEST(FfaForwardCpuAccumulate, FromEmptyAccumulatorsAndEmptyPartials) {
  std::mt19937_64 rng(testing::seed(8));
  for (int iter = 0; iter < 50; ++iter) {
    const AttnCase c = testing::random_case(rng, DType::kFloat32);
    const int64_t c1 = c.spec.sk / 3, c2 = 2 * c.spec.sk / 3;
    Accumulators acc = make_accumulators(c, DType::kFloat32);
    for (AttnRange cols : {AttnRange{c1, c2}, AttnRange{0, c1}, AttnRange{c2, c.spec.sk}}) {
      std::vector<AttnSlice> part;
      for (const AttnSlice& s : c.slices) {
        for (const AttnSlice& p : clip(s, {0, c.spec.sq}, cols)) part.push_back(p);
      }
      ffa_forward(c.tq.view(), c.tk.view(), c.tv.view(), part, c.opts(), acc.out.view(),
                  acc.lse.view(), true);
    }
    const std::vector<double> out = acc.out.get(), lse = acc.lse.get();
    ffa_forward(c.tq.view(), c.tk.view(), c.tv.view(), {}, c.opts(), acc.out.view(), acc.lse.view(),
                true);
    EXPECT_EQ(acc.out.get(), out);
    EXPECT_EQ(acc.lse.get(), lse);
    const testing::DenseForward ref = testing::dense_forward(c.spec, c.q, c.k, c.v, c.mask);
    testing::expect_close(out, ref.out, DType::kFloat32, DType::kFloat32, c.describe());
    testing::expect_close(lse, ref.lse, DType::kFloat32, DType::kFloat32, c.describe(), 1.0);
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace magi
