#include <gtest/gtest.h>

#include <random>

#include "magi/mask.h"
#include "testing/random_mask.h"

namespace magi {
namespace {

using testing::dense_mask;

// Cell (i, j) of the transposed dense mask is cell (j, i) of the original; the result's slices
// share no cell (their areas add up to the union's).
void expect_transposed(std::span<const AttnSlice> slices, int64_t sq, int64_t sk) {
  const std::vector<AttnSlice> t = transpose_mask(slices);
  const auto m = dense_mask(slices, sq, sk), mt = dense_mask(t, sk, sq);
  for (int64_t i = 0; i < sq; ++i) {
    for (int64_t j = 0; j < sk; ++j) {
      ASSERT_EQ(m[i * sk + j], mt[j * sq + i]) << "cell (" << i << ", " << j << ")";
    }
  }
  int64_t sum = 0;
  for (const AttnSlice& s : t) sum += s.area();
  EXPECT_EQ(sum, testing::count_cells(mt));
}

TEST(TransposeMask, EveryTypeAndShape) {
  for (int t = 0; t < 4; ++t) {
    for (int64_t a = 0; a <= 7; ++a) {
      for (int64_t b = 0; b <= 7; ++b) {
        const AttnSlice one[] = {{{1, 1 + a}, {2, 2 + b}, static_cast<AttnMaskType>(t)}};
        expect_transposed(one, 9, 10);
      }
    }
  }
}

TEST(TransposeMask, RandomOverlappingMasksWithDifferentLengths) {
  std::mt19937_64 rng(5);
  for (int iter = 0; iter < 300; ++iter) {
    const int64_t sq = 1 + static_cast<int64_t>(rng() % 24),
                  sk = 1 + static_cast<int64_t>(rng() % 24);
    const auto slices = testing::random_slices(rng, sq, sk, 1 + static_cast<int>(rng() % 5));
    expect_transposed(slices, sq, sk);
  }
}

TEST(TransposeMask, TwiceIsTheSameMask) {
  const AttnSlice s[] = {{{0, 5}, {0, 9}, AttnMaskType::kCausal},
                         {{5, 8}, {3, 4}, AttnMaskType::kBiCausal}};
  EXPECT_EQ(dense_mask(transpose_mask(transpose_mask(s)), 8, 9), dense_mask(s, 8, 9));
}

}  // namespace
}  // namespace magi
