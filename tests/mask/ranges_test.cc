#include <gtest/gtest.h>

#include <random>
#include <set>

#include "magi/check.h"
#include "magi/mask.h"
#include "testing/random_mask.h"

namespace magi {
namespace {

std::set<int64_t> points(const AttnRanges& rs) {
  std::set<int64_t> s;
  for (const AttnRange& r : rs)
    for (int64_t x = r.start; x < r.end; ++x) s.insert(x);
  return s;
}

TEST(AttnRanges, MergeFusesOverlappingAndTouching) {
  AttnRanges r{{5, 7}, {0, 2}, {2, 3}, {6, 9}, {4, 4}};
  EXPECT_EQ(r.merged(), (AttnRanges{{0, 3}, {5, 9}}));
  EXPECT_TRUE(r.merged().is_merged());
  EXPECT_FALSE(r.is_merged());
}

TEST(AttnRanges, SetAlgebraMatchesPointSets) {
  std::mt19937_64 rng(7);
  for (int iter = 0; iter < 2000; ++iter) {
    AttnRanges a, b;
    for (int i = 0; i < 4; ++i) a.push_back(testing::random_range(rng, 40));
    for (int i = 0; i < 4; ++i) b.push_back(testing::random_range(rng, 40));
    const auto pa = points(a), pb = points(b);
    std::set<int64_t> inter, diff;
    for (int64_t x : pa) (pb.count(x) ? inter : diff).insert(x);
    EXPECT_EQ(points(a.intersect(b)), inter);
    EXPECT_EQ(points(a.subtract(b)), diff);
    EXPECT_TRUE(a.intersect(b).empty() || a.intersect(b).is_merged());
    EXPECT_EQ(points(a.merged()), pa);
  }
}

TEST(AttnRanges, ChunkCutsEqualTokenGroups) {
  AttnRanges r{{0, 5}, {10, 13}, {20, 24}};
  const auto chunks = r.chunk(4);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0], (AttnRanges{{0, 4}}));
  EXPECT_EQ(chunks[1], (AttnRanges{{4, 5}, {10, 13}}));
  EXPECT_EQ(chunks[2], (AttnRanges{{20, 24}}));
  EXPECT_THROW(r.chunk(0), Error);
  EXPECT_THROW((AttnRanges{{0, 4}, {2, 6}}).chunk(2), Error);
}

TEST(AttnRanges, ToLocalMapsIntoCompactBuffer) {
  AttnRanges host{{0, 4}, {8, 12}, {20, 22}};
  EXPECT_EQ(host.to_local(AttnRange{9, 11}), (AttnRange{5, 7}));
  EXPECT_EQ(host.to_local(AttnRange{20, 22}), (AttnRange{8, 10}));
  EXPECT_THROW(host.to_local(AttnRange{3, 9}), Error);
}

TEST(AttnRanges, FromCuSeqlensValidates) {
  std::vector<int64_t> cu{0, 3, 7};
  EXPECT_EQ(AttnRanges::from_cu_seqlens(cu, 7), (AttnRanges{{0, 3}, {3, 7}}));
  EXPECT_THROW(AttnRanges::from_cu_seqlens(cu, 8), Error);
  std::vector<int64_t> bad{0, 3, 3};
  EXPECT_THROW(AttnRanges::from_cu_seqlens(bad, 3), Error);
}

TEST(AttnRange, CheckNamesArgumentAndValue) {
  try {
    check_range({5, 3}, "q_ranges[2]");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("q_ranges[2] = [5, 3)"), std::string::npos);
  }
  EXPECT_THROW(check_range({0, 9}, "k", 8), Error);
  EXPECT_NO_THROW(check_range({0, 8}, "k", 8));
}

}  // namespace
}  // namespace magi
