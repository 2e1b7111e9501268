// The Hopper backward's dQ cast (ffa/sm90/dq_cast.h): which blocks a query tile's addition
// touches, how many additions each block of a list gets (against a count of the tiles whose
// rows meet the block), and which kernels cast.
#include "kernels/cuda/ffa/sm90/dq_cast.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "kernels/cuda/ffa/work_list.h"
#include "magi/mask.h"
#include "testing/random_mask.h"

namespace magi::cuda::sm90 {
namespace {

TEST(DqCast, BlocksOfATile) {
  const auto blocks = [](int32_t c0, int32_t total_q) {
    const DqBlocks b = dq_blocks<64>(c0, total_q);
    return std::vector<int32_t>{b.first, b.last};
  };
  EXPECT_EQ(blocks(0, 1000), (std::vector<int32_t>{0, 0}));
  EXPECT_EQ(blocks(128, 1000), (std::vector<int32_t>{2, 2}));
  EXPECT_EQ(blocks(10, 1000), (std::vector<int32_t>{0, 1}));  // unaligned: two blocks
  EXPECT_EQ(blocks(10, 64), (std::vector<int32_t>{0, 0}));    // the second past total_q
  EXPECT_EQ(blocks(70, 129), (std::vector<int32_t>{1, 2}));   // row 128 is in
  EXPECT_EQ(blocks(70, 128), (std::vector<int32_t>{1, 1}));
}

// Random masks, both walks (the default list's, and the deterministic one's aligned to blocks).
TEST(DqCast, BlockAdditionsCountTheTilesThatMeetEachBlock) {
  std::mt19937_64 rng(11);
  for (int iter = 0; iter < 300; ++iter) {
    const int64_t sq = 1 + rng() % 700, sk = 1 + rng() % 700;
    const auto slices = make_disjoint(testing::random_slices(rng, sq, sk, 8));
    for (const bool aligned : {false, true}) {
      const WorkList wl = build_bwd_work(slices, sk, 128, 64,
                                         aligned ? BwdKeyBlocks::kGlobal : BwdKeyBlocks::kAnchored);
      std::vector<int32_t> want(static_cast<size_t>((sq + 63) / 64), 0);
      for (const FfaWorkItem& it : wl.items) {
        for (int32_t g = it.seg_begin; g < it.seg_end; ++g) {
          const FfaSegment& seg = wl.segs[static_cast<size_t>(g)];
          for (int64_t c0 = aligned ? seg.q0 / 64 * 64 : seg.q0; c0 < seg.q1; c0 += 64) {
            for (int64_t b = 0; b < static_cast<int64_t>(want.size()); ++b) {
              if (std::max(c0, 64 * b) < std::min({c0 + 64, 64 * b + 64, sq})) {
                ++want[static_cast<size_t>(b)];
              }
            }
          }
        }
      }
      EXPECT_EQ(dq_block_adds<64>(wl.items, wl.segs, static_cast<int32_t>(sq), aligned), want)
          << "iteration " << iter << (aligned ? ", aligned" : "");
    }
  }
}

TEST(DqCast, KernelsThatCast) {
  EXPECT_TRUE(bwd_casts_dq(64, 64));
  EXPECT_TRUE(bwd_casts_dq(128, 128));
  EXPECT_FALSE(bwd_casts_dq(256, 256));  // D passes or key passes
  EXPECT_FALSE(bwd_casts_dq(192, 192));
  EXPECT_FALSE(bwd_casts_dq(192, 128));
}

}  // namespace
}  // namespace magi::cuda::sm90
