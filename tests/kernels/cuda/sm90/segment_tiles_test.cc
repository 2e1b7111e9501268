// The tile walks along an item's segments (ffa/sm90/segment_tiles.h): forward items by keys,
// backward items by query rows; each segment's range covered once, in order, from its start.
#include "kernels/cuda/ffa/sm90/segment_tiles.h"

#include <gtest/gtest.h>

#include <random>
#include <utility>
#include <vector>

#include "kernels/cuda/ffa/work_list.h"
#include "testing/random_mask.h"

namespace magi::cuda::sm90 {
namespace {

template <class Tiles, int kBlock>
void expect_cover(const WorkList& wl, bool keys, bool aligned = false) {
  for (const FfaWorkItem& it : wl.items) {
    if (it.seg_begin == it.seg_end) continue;
    std::vector<std::vector<int>> starts(wl.segs.size());
    Tiles tiles(wl.segs.data(), it, aligned);
    bool last = false;
    do {
      starts[tiles.seg].push_back(tiles.c0);
      last = tiles.last();
    } while (tiles.next(wl.segs.data()));
    EXPECT_TRUE(last);
    for (int g = it.seg_begin; g < it.seg_end; ++g) {
      const FfaSegment& seg = wl.segs[g];
      std::vector<int> want;
      const int first = keys ? seg.k0 : seg.q0;
      for (int c = aligned ? first / kBlock * kBlock : first; c < (keys ? seg.k1 : seg.q1);
           c += kBlock) {
        want.push_back(c);
      }
      EXPECT_EQ(starts[g], want) << "segment " << g;
    }
  }
}

TEST(SegmentTiles, KeysOfForwardItemsAndRowsOfBackwardItems) {
  std::mt19937_64 rng(7);
  for (int iter = 0; iter < 200; ++iter) {
    const int64_t sq = 1 + rng() % 700, sk = 1 + rng() % 700;
    const auto slices = make_disjoint(testing::random_slices(rng, sq, sk, 6));
    expect_cover<KeyTiles<128>, 128>(build_fwd_work(slices, sq, 128), true);
    expect_cover<RowTiles<64>, 64>(build_bwd_work(slices, sk, 128, 64), false);
    expect_cover<RowTiles<64>, 64>(build_bwd_work(slices, sk, 128, 64, true), false, true);
  }
}

// A forward plan's piece (fwd_plan.h) walks tiles [first, first + count) of the item's walk.
TEST(SegmentTiles, RangeOfAForwardWalk) {
  std::mt19937_64 rng(9);
  for (int iter = 0; iter < 100; ++iter) {
    const int64_t sq = 1 + rng() % 700, sk = 1 + rng() % 700;
    const WorkList wl =
        build_fwd_work(make_disjoint(testing::random_slices(rng, sq, sk, 6)), sq, 64);
    for (const FfaWorkItem& it : wl.items) {
      if (it.seg_begin == it.seg_end) continue;
      std::vector<std::pair<int, int>> all;  // (segment, first key) of every tile
      KeyTiles<32> walk(wl.segs.data(), it);
      do all.push_back({walk.seg, walk.c0});
      while (walk.next(wl.segs.data()));
      const int n = static_cast<int>(all.size());
      const int first = static_cast<int>(rng() % n);
      const int count = 1 + static_cast<int>(rng() % (n - first));
      KeyTiles<32> part;
      part.reset_range(wl.segs.data(), it, first, count);
      std::vector<std::pair<int, int>> got;
      bool last = false;
      do {
        got.push_back({part.seg, part.c0});
        last = part.last();
      } while (part.next(wl.segs.data()));
      EXPECT_TRUE(last);
      const std::vector<std::pair<int, int>> want(all.begin() + first, all.begin() + first + count);
      EXPECT_EQ(got, want);
    }
  }
}

}  // namespace
}  // namespace magi::cuda::sm90
