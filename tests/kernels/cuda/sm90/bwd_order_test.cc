// The default backward's key order (ffa/sm90/bwd_order.h) on the 64:8 shapes measured in both
// orders on an H100 (bench/NOTES.md v60, v61): the 32k masks whose tiles walk under kCutMinWalk
// query tiles take it (varlen_causal ran 1.06-1.18x), the 8k and 16k ones (varlen_block_causal
// 0.87-0.92x at 8k, varlen_causal and varlen_block_causal 0.94x at 16k) and the masks with cut
// tiles (32k full / causal 0.98x) do not.
#include "kernels/cuda/ffa/sm90/bwd_order.h"

#include <gtest/gtest.h>

#include <vector>

#include "kernels/cuda/ffa/work_list.h"
#include "kernels/cuda/sm90/bwd_lists.h"
#include "magi/mask.h"

namespace magi::cuda::sm90 {
namespace {

using testing::documents;
using testing::sliding_window;
using testing::walk_costs;

/// key_order_pays for the default backward list of `slices` at head dim `d` on a 50 MiB L2.
bool pays(const std::vector<AttnSlice>& slices, int64_t s, int64_t d = 128) {
  int64_t walks = 0, walking = 0;
  for (const int32_t c : walk_costs(build_bwd_work(make_disjoint(slices), s, 128, 64))) {
    walks += c;
    walking += c > 0;
  }
  return key_order_pays(walks, walking, s, 2 * d + 2 * d + 4 * d + 8, int64_t{50} << 20);
}

TEST(BwdOrder, TakesTheLongMasksWithShortWalks) {
  using T = AttnMaskType;
  const std::vector<int64_t> docs32 = {7275, 13237, 18425, 22130, 26069, 28368, 30878, 32768};
  const std::vector<int64_t> docs8 = {1819, 3310, 4607, 5533, 6518, 7092, 7719, 8192};
  EXPECT_TRUE(pays(documents(docs32, T::kCausal), 32768));    // mean walk 39
  EXPECT_TRUE(pays(sliding_window(32768, 4096), 32768));      // 62
  EXPECT_FALSE(pays(documents(docs32, T::kFull), 32768));     // 77: cuts
  EXPECT_FALSE(pays(documents({32768}, T::kCausal), 32768));  // 257: cuts
  EXPECT_FALSE(pays(documents({32768}, T::kFull), 32768));
  EXPECT_FALSE(pays(documents(docs8, T::kCausal), 8192));  // a head's rows: 8.5 MB
  const std::vector<int64_t> docs16 = {3637, 6618, 9212, 11065, 13034, 14183, 15438, 16384};
  EXPECT_FALSE(pays(documents(docs16, T::kCausal), 16384));  // 17 MB
  EXPECT_FALSE(pays(sliding_window(8192, 1024), 8192));
  // Head dim 64: 17 MB of rows a head at 32k, a third of the L2 (not measured: kept out).
  EXPECT_FALSE(pays(documents(docs32, T::kCausal), 32768, 64));
}

TEST(BwdOrder, NothingToWalk) { EXPECT_FALSE(key_order_pays(0, 0, 32768, 1032, 1)); }

}  // namespace
}  // namespace magi::cuda::sm90
