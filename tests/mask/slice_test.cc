#include <gtest/gtest.h>

#include <random>

#include "magi/check.h"
#include "magi/mask.h"
#include "mask/band.h"
#include "testing/random_mask.h"

namespace magi {
namespace {

using testing::dense_mask;

TEST(AttnMaskType, StringsAndInts) {
  EXPECT_EQ(mask_type_from_string("bi_causal"), AttnMaskType::kBiCausal);
  EXPECT_EQ(to_string(AttnMaskType::kInvCausal), "inv_causal");
  EXPECT_EQ(mask_type_from_int(1), AttnMaskType::kCausal);
  try {
    mask_type_from_string("sliding");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'sliding'"), std::string::npos);
  }
  EXPECT_THROW(mask_type_from_int(4), Error);
}

TEST(AttnSlice, AreaMatchesDenseCountForAllShapes) {
  for (int t = 0; t < 4; ++t) {
    for (int64_t sq = 0; sq <= 9; ++sq) {
      for (int64_t sk = 0; sk <= 9; ++sk) {
        const AttnSlice s{{3, 3 + sq}, {2, 2 + sk}, static_cast<AttnMaskType>(t)};
        const AttnSlice one[] = {s};
        ASSERT_EQ(s.area(), testing::count_cells(dense_mask(one, 12, 12))) << to_string(s);
      }
    }
  }
  // The original's formulas on a few shapes.
  EXPECT_EQ((AttnSlice{{0, 4}, {0, 10}, AttnMaskType::kCausal}).area(), (2 * 10 - 4 + 1) * 4 / 2);
  EXPECT_EQ((AttnSlice{{0, 4}, {0, 10}, AttnMaskType::kBiCausal}).area(), (10 - 4 + 1) * 4);
  EXPECT_EQ((AttnSlice{{0, 10}, {0, 4}, AttnMaskType::kBiCausal}).area(), 0);
}

TEST(AttnSlice, RowKeysFollowTheDefinition) {
  const AttnSlice c{{10, 14}, {0, 6}, AttnMaskType::kCausal};
  EXPECT_EQ(c.row_keys(13), (AttnRange{0, 6}));  // last row sees everything
  EXPECT_EQ(c.row_keys(10), (AttnRange{0, 3}));
  const AttnSlice i{{10, 14}, {0, 6}, AttnMaskType::kInvCausal};
  EXPECT_EQ(i.row_keys(10), (AttnRange{0, 6}));  // first row sees everything
  EXPECT_EQ(i.row_keys(13), (AttnRange{3, 6}));
}

// Clipping to any box re-expresses exactly the cells inside it.
TEST(Clip, ExactOnRandomSlicesAndBoxes) {
  std::mt19937_64 rng(11);
  const int64_t n = 24;
  for (int iter = 0; iter < 4000; ++iter) {
    const AttnSlice s{testing::random_range(rng, n), testing::random_range(rng, n),
                      testing::random_type(rng)};
    const AttnRange rows = testing::random_range(rng, n), cols = testing::random_range(rng, n);
    const auto pieces = clip(s, rows, cols);
    ASSERT_LE(pieces.size(), 3u);
    const AttnSlice one[] = {s};
    auto want = dense_mask(one, n, n);
    for (int64_t q = 0; q < n; ++q)
      for (int64_t k = 0; k < n; ++k)
        if (!rows.contains(q) || !cols.contains(k)) want[q * n + k] = 0;
    auto got = std::vector<uint8_t>(n * n, 0);
    int64_t area = 0;
    for (const AttnSlice& p : pieces) {
      ASSERT_GT(p.area(), 0) << to_string(p);
      area += p.area();
      const AttnSlice pp[] = {p};
      const auto m = dense_mask(pp, n, n);
      for (size_t c = 0; c < m.size(); ++c) got[c] += m[c];
    }
    ASSERT_EQ(got, want) << to_string(s) << " rows " << to_string(rows) << " cols "
                         << to_string(cols);
    ASSERT_EQ(area, testing::count_cells(want));
  }
}

TEST(MakeDisjoint, CoversTheUnionOnceOnRandomMasks) {
  std::mt19937_64 rng(5);
  for (int iter = 0; iter < 3000; ++iter) {
    const int64_t nq = std::uniform_int_distribution<int64_t>(1, 30)(rng);
    const int64_t nk = std::uniform_int_distribution<int64_t>(1, 30)(rng);
    const auto slices = testing::random_slices(rng, nq, nk, 7);
    const auto want = dense_mask(slices, nq, nk);
    const auto disjoint = make_disjoint(slices);
    std::vector<uint8_t> got(nq * nk, 0);
    for (const AttnSlice& s : disjoint) {
      ASSERT_GT(s.area(), 0);
      const AttnSlice one[] = {s};
      const auto m = dense_mask(one, nq, nk);
      for (size_t c = 0; c < m.size(); ++c) got[c] += m[c];
    }
    ASSERT_EQ(got, want) << "iteration " << iter;
    ASSERT_EQ(union_area(slices), testing::count_cells(want));
  }
}

TEST(MakeDisjoint, KeepsSlicesThatShareRowsButNoCells) {
  // Sliding-window causal: the two slices share no row; a block mask with q overlap but
  // disjoint k ranges stays as it is.
  const std::vector<AttnSlice> s = {{{0, 8}, {0, 4}, AttnMaskType::kFull},
                                    {{0, 8}, {4, 8}, AttnMaskType::kCausal}};
  EXPECT_EQ(make_disjoint(s), s);
}

TEST(Band, SubtractIsExact) {
  std::mt19937_64 rng(3);
  const int64_t n = 20;
  for (int iter = 0; iter < 3000; ++iter) {
    const AttnSlice a{testing::random_range(rng, n), testing::random_range(rng, n),
                      testing::random_type(rng)};
    const AttnSlice b{testing::random_range(rng, n), testing::random_range(rng, n),
                      testing::random_type(rng)};
    const AttnSlice sa[] = {a}, sb[] = {b};
    const auto ma = dense_mask(sa, n, n), mb = dense_mask(sb, n, n);
    std::vector<uint8_t> got(n * n, 0);
    for (const auto& band : mask::subtract(mask::Band::from_slice(a), mask::Band::from_slice(b)))
      for (const AttnSlice& p : mask::to_slices(band)) {
        const AttnSlice pp[] = {p};
        const auto m = dense_mask(pp, n, n);
        for (size_t c = 0; c < m.size(); ++c) got[c] += m[c];
      }
    for (size_t c = 0; c < got.size(); ++c)
      ASSERT_EQ(got[c], ma[c] && !mb[c] ? 1 : 0) << to_string(a) << " minus " << to_string(b);
  }
}

}  // namespace
}  // namespace magi
