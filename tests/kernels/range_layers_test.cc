// disjoint_layers against the greedy rule computed by brute force on random lists (overlapping,
// nested, touching and empty ranges), and the properties a scatter-add in list order relies on.
#include "kernels/range_layers.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace magi {
namespace {

bool overlap(const AttnRange& x, const AttnRange& y) {
  return x.start < x.end && y.start < y.end && x.start < y.end && y.start < x.end;
}

TEST(RangeLayers, MatchesTheGreedyRuleOnRandomLists) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 500; ++round) {
    const int n = static_cast<int>(rng() % 40);
    const int64_t span = 1 + static_cast<int64_t>(rng() % 60);
    std::vector<AttnRange> ranges;
    for (int i = 0; i < n; ++i) {
      const int64_t a = static_cast<int64_t>(rng() % span);
      const int64_t len = static_cast<int64_t>(rng() % 12) - 1;  // some empty
      ranges.push_back({a, std::max(a, a + len)});
    }
    const std::vector<int64_t> got = disjoint_layers(ranges);
    ASSERT_EQ(got.size(), ranges.size());
    for (int j = 0; j < n; ++j) {
      int64_t top = -1;
      for (int i = 0; i < j; ++i) {
        if (overlap(ranges[i], ranges[j])) {
          top = std::max(top, got[i]);
          EXPECT_LT(got[i], got[j]) << "round " << round << ": ranges " << i << ", " << j;
        }
      }
      const bool empty = ranges[j].start >= ranges[j].end;
      EXPECT_EQ(got[j], empty ? 0 : top + 1) << "round " << round << ", range " << j;
    }
  }
}

TEST(RangeLayers, DisjointListIsOneLayerAndRepeatsStack) {
  EXPECT_EQ(disjoint_layers({}), std::vector<int64_t>{});
  const std::vector<AttnRange> disjoint = {{0, 4}, {4, 8}, {10, 12}};
  EXPECT_EQ(disjoint_layers(disjoint), (std::vector<int64_t>{0, 0, 0}));
  const std::vector<AttnRange> repeats = {{0, 4}, {2, 6}, {0, 4}, {5, 9}, {8, 9}};
  EXPECT_EQ(disjoint_layers(repeats), (std::vector<int64_t>{0, 1, 2, 2, 3}));
}

}  // namespace
}  // namespace magi
