#include <gtest/gtest.h>

#include "dispatch/solvers.h"

namespace magi {
namespace {

using dispatch::Buckets;

TEST(Sequential, ContiguousBlocks) {
  EXPECT_EQ(dispatch::solve_sequential(8, 4), (Buckets{{0, 1}, {2, 3}, {4, 5}, {6, 7}}));
  EXPECT_EQ(dispatch::solve_sequential(6, 2), (Buckets{{0, 1, 2}, {3, 4, 5}}));
  EXPECT_EQ(dispatch::solve_sequential(3, 1), (Buckets{{0, 1, 2}}));
  EXPECT_EQ(dispatch::solve_sequential(0, 2), (Buckets{{}, {}}));
}

}  // namespace
}  // namespace magi
