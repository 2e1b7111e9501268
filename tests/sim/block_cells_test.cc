#include "sim/block_cells.h"

#include <gtest/gtest.h>

#include <random>

#include "testing/random_mask.h"

namespace magi::sim::detail {
namespace {

TEST(BlockCells, ZigzagRowsAndHandCountedCells) {
  const std::vector<AttnSlice> causal = {{{0, 8}, {0, 8}, AttnMaskType::kCausal}};
  const BlockCells bc(causal, 8, RingLayout::kZigzag, 2);  // blocks of 2 rows
  EXPECT_EQ(bc.rows(0), (std::vector<AttnRange>{{0, 2}, {6, 8}}));
  EXPECT_EQ(bc.rows(1), (std::vector<AttnRange>{{2, 4}, {4, 6}}));
  // Rank 0 x rank 0: rows {0,1} see keys {0,1}: 1 + 2; rows {6,7} see {0,1}: 4 (full), and
  // {6,7}: 1 + 2.
  EXPECT_EQ(bc.cells(0, 0), (TypedCells{4, 6, 0, 0}));
  EXPECT_EQ(bc.cells(0, 1), (TypedCells{8, 0, 0, 0}));  // rows 6,7 x keys 2..5
  EXPECT_EQ(bc.cells(1, 0), (TypedCells{8, 0, 0, 0}));  // rows 2..5 x keys 0,1
  EXPECT_EQ(total(bc.row_cells(0)) + total(bc.row_cells(1)), 36);
}

TEST(BlockCells, RandomMasksSumToTheUnion) {
  std::mt19937_64 rng(3);
  for (int iter = 0; iter < 300; ++iter) {
    const int64_t total_rows = std::uniform_int_distribution<int64_t>(1, 60)(rng);
    const int64_t cp = std::uniform_int_distribution<int64_t>(1, 6)(rng);
    const auto slices = magi::testing::random_slices(rng, total_rows, total_rows, 6);
    const int64_t want =
        magi::testing::count_cells(magi::testing::dense_mask(slices, total_rows, total_rows));
    for (RingLayout layout : {RingLayout::kContiguous, RingLayout::kZigzag}) {
      const BlockCells bc(slices, total_rows, layout, cp);
      int64_t sum = 0, rows = 0;
      for (int64_t q = 0; q < cp; ++q) {
        int64_t per_rank = 0;
        for (int64_t k = 0; k < cp; ++k) per_rank += total(bc.cells(q, k));
        ASSERT_EQ(per_rank, total(bc.row_cells(q)));
        sum += per_rank;
        rows += bc.num_rows(q);
      }
      ASSERT_EQ(sum, want) << "iteration " << iter;
      ASSERT_EQ(rows, total_rows);
    }
  }
}

}  // namespace
}  // namespace magi::sim::detail
