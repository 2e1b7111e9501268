// The forward's row-variant choice (ffa/sm90/fwd_rows.h) against the scheduler's own
// assignment of tiles (tile_scheduler.h).
#include "kernels/cuda/ffa/sm90/fwd_rows.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>
#include <vector>

#include "kernels/cuda/ffa/sm90/schedule.h"

namespace magi::cuda::sm90 {
namespace {

// The forward's keys-per-CTA estimate against the scheduler's own assignment: exact for equal
// items, and within one longest tile of the busiest CTA on random longest-first lists.
TEST(Schedule, ForwardKeysPerCtaEstimate) {
  const auto busiest = [](const std::vector<int32_t>& keys, int64_t heads, int sms) {
    const Schedule cfg = choose_schedule({static_cast<int64_t>(keys.size()), heads, sms});
    int64_t most = 0;
    for (int cta = 0; cta < cfg.sched.grid; ++cta) {
      int64_t sum = 0;
      for (int r = 0; cfg.sched.tile(cta, r) >= 0; ++r) {
        sum += keys[static_cast<size_t>(cfg.sched.item_of(cfg.sched.tile(cta, r)))];
      }
      most = std::max(most, sum);
    }
    return static_cast<double>(most);
  };
  for (int items : {1, 11, 16, 43, 64, 171, 256}) {
    const std::vector<int32_t> keys(static_cast<size_t>(items), 2048);
    for (int64_t heads : {1, 16, 64}) {
      const FwdCtaLoad load = fwd_cta_load(keys_from(keys), heads, 132);
      EXPECT_DOUBLE_EQ(load.keys, busiest(keys, heads, 132))
          << items << " items, " << heads << " heads";
      EXPECT_EQ(load.tiles, (items * heads + 131) / 132);
    }
  }
  std::mt19937 rng(3);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<int32_t> keys(std::uniform_int_distribution<size_t>(1, 300)(rng));
    for (int32_t& k : keys) k = std::uniform_int_distribution<int32_t>(0, 32768)(rng);
    std::sort(keys.begin(), keys.end(), std::greater<>());
    const int64_t heads = std::uniform_int_distribution<int64_t>(1, 64)(rng);
    const int sms = std::uniform_int_distribution<int>(1, 132)(rng);
    const FwdCtaLoad load = fwd_cta_load(keys_from(keys), heads, sms);
    EXPECT_NEAR(load.keys, busiest(keys, heads, sms), keys[0]) << "trial " << trial;
    const int64_t tiles = static_cast<int64_t>(keys.size()) * heads;
    const int64_t grid = std::min<int64_t>(tiles, sms);
    EXPECT_EQ(load.tiles, (tiles + grid - 1) / grid) << "trial " << trial;
  }
  EXPECT_EQ(fwd_cta_load(keys_from({}), 8, 132).keys, 0.0);
  EXPECT_EQ(fwd_cta_load(keys_from({}), 8, 132).tiles, 0);
}

// The choice on the shapes the model was fitted to (bench/NOTES.md v30, H200, 132 SMs): full and
// causal masks at 2k, 8k, 32k with 16 and 64 query heads; narrow only where it measured faster
// (16 heads: 2k full and causal, 8k full).
TEST(Schedule, WideForwardWhereItMeasuredFaster) {
  const auto prefer_wide = [](int32_t s, int64_t heads, bool causal) {
    const auto list = [&](int32_t rows) {
      std::vector<int32_t> keys;
      for (int32_t r0 = 0; r0 < s; r0 += rows) keys.push_back(causal ? std::min(s, r0 + rows) : s);
      std::sort(keys.begin(), keys.end(), std::greater<>());
      return keys_from(keys);
    };
    return prefer_wide_fwd(list(128), list(192), heads, 132);
  };
  for (const bool causal : {false, true}) {
    EXPECT_FALSE(prefer_wide(2048, 16, causal));
    EXPECT_EQ(prefer_wide(8192, 16, causal), causal);
    EXPECT_TRUE(prefer_wide(32768, 16, causal));
    for (const int32_t s : {2048, 8192, 32768}) EXPECT_TRUE(prefer_wide(s, 64, causal)) << s;
  }
}

}  // namespace
}  // namespace magi::cuda::sm90
