// The tile walks along an item's segments (ffa/sm90/segment_tiles.h): forward items by keys,
// backward items by query rows; each segment's range covered once, in order, from its start.
#include "kernels/cuda/ffa/sm90/segment_tiles.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <tuple>
#include <utility>
#include <vector>

#include "kernels/cuda/ffa/sm90/tile_plan.h"
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
    // The 256-row forward's items and 80-key tiles (fwd_consumer.cuh: run_halves).
    expect_cover<KeyTiles<80>, 80>(build_fwd_work(slices, sq, 256), true);
    expect_cover<RowTiles<64>, 64>(build_bwd_work(slices, sk, 128, 64), false);
    expect_cover<RowTiles<64>, 64>(build_bwd_work(slices, sk, 128, 64, BwdKeyBlocks::kGlobal),
                                   false, true);
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

// A backward plan's piece of a cut tile (tile_plan.h: piece_item) is a work item whose segments
// are the item's clipped to tiles [first, first + count) of its walk: walked, it gives those
// tiles, each with its segment's keys, band and row end (the rows masked past it).
TEST(SegmentTiles, PieceOfABackwardWalk) {
  std::mt19937_64 rng(11);
  using Tile = std::tuple<int, int, int, int, int, int>;  // c0, row end, k0, k1, dlo, dhi
  const auto walk = [](const std::vector<FfaSegment>& segs, const FfaWorkItem& it) {
    std::vector<Tile> out;
    RowTiles<64> rows(segs.data(), it);
    do {
      const FfaSegment& g = segs[static_cast<size_t>(rows.seg)];
      out.emplace_back(rows.c0, std::min(rows.c0 + 64, rows.k1), g.k0, g.k1, g.dlo, g.dhi);
    } while (rows.next(segs.data()));
    return out;
  };
  for (int iter = 0; iter < 100; ++iter) {
    const int64_t sq = 1 + rng() % 900, sk = 1 + rng() % 900;
    const WorkList wl =
        build_bwd_work(make_disjoint(testing::random_slices(rng, sq, sk, 6)), sk, 128, 64);
    for (const FfaWorkItem& it : wl.items) {
      if (it.seg_begin == it.seg_end) continue;
      const std::vector<Tile> all = walk(wl.segs, it);
      const int n = static_cast<int>(all.size());
      const int first = static_cast<int>(rng() % n);
      const int count = 1 + static_cast<int>(rng() % (n - first));
      std::vector<FfaSegment> segs = wl.segs;
      const FfaWorkItem piece = piece_item<64>(it, wl.segs, first, count, segs);
      EXPECT_EQ(piece.block_start, it.block_start);
      EXPECT_EQ(piece.block_end, it.block_end);
      EXPECT_EQ(walk(segs, piece),
                std::vector<Tile>(all.begin() + first, all.begin() + first + count));
    }
  }
}

}  // namespace
}  // namespace magi::cuda::sm90
