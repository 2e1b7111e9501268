// The choice of packed GQA backward tiles (ffa/sm90/bwd_pack.h) on the 64:8 shapes measured
// packed and per head on an H100 (bench/NOTES.md v55, v56): those that ran faster packed pack
// (but 32k swa_causal, 1.01-1.04x), those that ran slower do not.
#include "kernels/cuda/ffa/sm90/bwd_pack.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernels/cuda/ffa/work_list.h"
#include "kernels/cuda/sm90/bwd_lists.h"
#include "magi/check.h"
#include "magi/mask.h"

namespace magi::cuda::sm90 {
namespace {

using testing::documents;
using testing::sliding_window;
using testing::walk_costs;

/// The query tiles of 64 rows each item of the backward list of `slices` walks.
std::vector<int32_t> walks(const std::vector<AttnSlice>& slices, int64_t s) {
  return walk_costs(build_bwd_work(make_disjoint(slices), s, 128, 64));
}

/// The default plan's shape at head dim d on a 132-SM, 50 MiB-L2 Hopper GPU (ffa_cuda.cc).
PackProblem h100(int32_t heads, int32_t heads_per_kv, int64_t d = 128) {
  TileCuts cuts{true};
  cuts.min_walk = kCutMinWalk;
  return {heads, heads_per_kv, 132, 2, cuts, 2 * d + 2 * d + 4 * d + 8, int64_t{50} << 20};
}

TEST(BwdPack, PacksTheShapesThatRanFasterPacked) {
  using T = AttnMaskType;
  struct Case {
    const char* name;
    std::vector<AttnSlice> slices;
    int64_t s;
    bool pack;  // ran faster packed (v55, v56)
    int64_t d;  // head dim
  };
  const std::vector<Case> cases = {
      {"8k swa_causal", sliding_window(8192, 1024), 8192, true, 128},
      {"2k full", documents({2048}, T::kFull), 2048, true, 128},
      {"2k full hd 64", documents({2048}, T::kFull), 2048, true, 64},
      {"8k varlen_causal", documents({1819, 3310, 4607, 5533, 6518, 7092, 7719, 8192}, T::kCausal),
       8192, true, 128},
      // 1.01-1.04x, 62 query tiles a walk: left per head.
      {"32k swa_causal", sliding_window(32768, 4096), 32768, false, 128},
      {"8k full", documents({8192}, T::kFull), 8192, false, 128},
      {"8k causal hd 64", documents({8192}, T::kCausal), 8192, false, 64},
      {"2k causal", documents({2048}, T::kCausal), 2048, false, 128},
      {"32k causal", documents({32768}, T::kCausal), 32768, false, 128},
      {"32k varlen_causal",
       documents({7275, 13237, 18425, 22130, 26069, 28368, 30878, 32768}, T::kCausal), 32768, false,
       128},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(pack_pays<64>(walks(c.slices, c.s), h100(64, 8, c.d)), c.pack) << c.name;
  }
}

TEST(BwdPack, RejectsBadProblems) {
  const std::vector<int32_t> cost = {2, 1};
  EXPECT_THROW(pack_pays<64>(cost, h100(64, 1)), Error);
  EXPECT_THROW(pack_pays<64>(cost, h100(60, 8)), Error);
  EXPECT_FALSE(pack_pays<64>(std::vector<int32_t>{0, 0}, h100(64, 8)));
}

// v62's model (walks_by_traffic, MAGI_FFA_BWD_PACK=3) picks, of tiles of 1, 2, 4 and 8 heads,
// the one that ran fastest on the H100 where it was measured: two heads at 8k varlen_causal
// (1.05-1.07x the packed tiles, four heads 1.01x) and 16k (1.20-1.21x), four heads at 16k
// swa_causal (1.06x, v63; two heads 1.03x, v62), packed tiles at 8k swa_causal
// (two heads 0.90x, four 0.98x), varlen_block_causal (0.95x, 0.95x) and 2k full (v55: 1.12-1.14x
// per head), per head at 2k causal (packed 0.70x, v55) and where walks are long (8k full, 32k
// varlen_causal: the rule's first test).
TEST(BwdPack, WalksByTrafficPickTheMeasuredFastest) {
  using T = AttnMaskType;
  struct Case {
    const char* name;
    std::vector<AttnSlice> slices;
    int64_t s;
    int32_t walks;
  };
  const std::vector<AttnSlice> block_causal = {
      {{0, 1024}, {0, 1024}, T::kFull},       {{1024, 1819}, {0, 1819}, T::kFull},
      {{1819, 2843}, {1819, 2843}, T::kFull}, {{2843, 3310}, {1819, 3310}, T::kFull},
      {{3310, 4334}, {3310, 4334}, T::kFull}, {{4334, 4607}, {3310, 4607}, T::kFull},
      {{4607, 5533}, {4607, 5533}, T::kFull}, {{5533, 6518}, {5533, 6518}, T::kFull},
      {{6518, 7092}, {6518, 7092}, T::kFull}, {{7092, 7719}, {7092, 7719}, T::kFull},
      {{7719, 8192}, {7719, 8192}, T::kFull}};
  const std::vector<Case> cases = {
      {"8k varlen_causal", documents({1819, 3310, 4607, 5533, 6518, 7092, 7719, 8192}, T::kCausal),
       8192, 2},
      {"16k varlen_causal",
       documents({3637, 6618, 9212, 11065, 13034, 14183, 15438, 16384}, T::kCausal), 16384, 2},
      {"8k swa_causal", sliding_window(8192, 1024), 8192, 8},
      {"16k swa_causal", sliding_window(16384, 2048), 16384, 4},
      {"8k varlen_block_causal", block_causal, 8192, 8},
      {"2k full", documents({2048}, T::kFull), 2048, 8},
      {"2k causal", documents({2048}, T::kCausal), 2048, 1},
      {"8k full", documents({8192}, T::kFull), 8192, 1},
      {"32k varlen_causal",
       documents({7275, 13237, 18425, 22130, 26069, 28368, 30878, 32768}, T::kCausal), 32768, 1},
  };
  for (const Case& c : cases) {
    const WorkList wl = build_bwd_work(make_disjoint(c.slices), c.s, 128, 64);
    EXPECT_EQ(walks_by_traffic<64>(walk_costs(wl), wl.items, wl.segs, h100(64, 8), 128), c.walks)
        << c.name;
  }
}

// The widths weighed: the divisors of a kv head's query heads where walks are short, none where
// they average more than kPackMaxMeanWalk (or there is no item); the fastest of them, the fewer
// heads of equal times.
TEST(BwdPack, WeighsTheDivisorsOfShortWalksAndTakesTheFastest) {
  EXPECT_EQ(traffic_widths(std::vector<int32_t>{4, 8}, h100(64, 8)),
            (std::vector<int32_t>{1, 2, 4, 8}));
  EXPECT_EQ(traffic_widths(std::vector<int32_t>{4, 8}, h100(48, 6)),
            (std::vector<int32_t>{1, 2, 3, 6}));
  EXPECT_TRUE(traffic_widths(std::vector<int32_t>{kPackMaxMeanWalk + 1}, h100(64, 8)).empty());
  EXPECT_TRUE(traffic_widths(std::vector<int32_t>{}, h100(64, 8)).empty());
  const std::vector<int32_t> widths = {1, 2, 4, 8};
  EXPECT_EQ(fastest_width(widths, std::vector<double>{3, 2, 1, 4}), 4);
  EXPECT_EQ(fastest_width(widths, std::vector<double>{3, 1, 1, 1}), 2);
  EXPECT_EQ(fastest_width({}, {}), 1);
  EXPECT_THROW(fastest_width(widths, std::vector<double>{1}), Error);
}

}  // namespace
}  // namespace magi::cuda::sm90
