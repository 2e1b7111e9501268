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
  const auto sum_of = [](const std::vector<int32_t>& keys) {
    int64_t s = 0;
    for (const int32_t k : keys) s += k;
    return s;
  };
  for (int items : {1, 11, 16, 43, 64, 171, 256}) {
    const std::vector<int32_t> keys(static_cast<size_t>(items), 2048);
    for (int64_t heads : {1, 16, 64}) {
      EXPECT_DOUBLE_EQ(fwd_keys_per_cta(keys, sum_of(keys), heads, 132), busiest(keys, heads, 132))
          << items << " items, " << heads << " heads";
    }
  }
  std::mt19937 rng(3);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<int32_t> keys(std::uniform_int_distribution<size_t>(1, 300)(rng));
    for (int32_t& k : keys) k = std::uniform_int_distribution<int32_t>(0, 32768)(rng);
    std::sort(keys.begin(), keys.end(), std::greater<>());
    const int64_t heads = std::uniform_int_distribution<int64_t>(1, 64)(rng);
    const int sms = std::uniform_int_distribution<int>(1, 132)(rng);
    EXPECT_NEAR(fwd_keys_per_cta(keys, sum_of(keys), heads, sms), busiest(keys, heads, sms),
                keys[0])
        << "trial " << trial;
  }
  EXPECT_EQ(fwd_keys_per_cta({}, 0, 8, 132), 0.0);
}

// The 192-row forward where its rounds fill as well as the 128-row one's (full mask, 16 heads,
// 132 SMs: at 32k 21 rounds against 32), not where its last round is emptier (2k: 2 against 2,
// 8k: 6 against 8).
TEST(Schedule, WideForwardOnlyWhereItsRoundsFill) {
  const auto prefer_wide = [](int64_t s, int64_t heads) {
    const std::vector<int32_t> narrow(static_cast<size_t>((s + 127) / 128), s);
    const std::vector<int32_t> wide(static_cast<size_t>((s + 191) / 192), s);
    return prefer_wide_fwd(narrow, s * static_cast<int64_t>(narrow.size()), wide,
                           s * static_cast<int64_t>(wide.size()), heads, 132);
  };
  EXPECT_FALSE(prefer_wide(2048, 16));
  EXPECT_FALSE(prefer_wide(8192, 16));
  EXPECT_TRUE(prefer_wide(32768, 16));
}

}  // namespace
}  // namespace magi::cuda::sm90
