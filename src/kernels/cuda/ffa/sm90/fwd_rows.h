// Which Hopper forward runs a call at head dims that have two (tile_table.h): 128-row items on
// two consumer warpgroups or 192-row items on three. A pure host function of the two work
// lists' item costs (unit-tested on the CPU, tests/kernels/cuda/sm90/fwd_rows_test.cc).
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>

namespace magi::cuda::sm90 {

/// What the busiest CTA walks in the forward: keys (estimated) and tiles.
struct FwdCtaLoad {
  double keys = 0.0;
  int64_t tiles = 0;
};

/// The busiest CTA's load in the forward over a longest-first work list (work_list.h) whose
/// items walk `keys[i]` keys (`sum` in all), for `heads` query heads on the persistent grid:
/// tiles are items x heads in rounds of `grid` (tile_scheduler.h, item-major), the snake order
/// spreads the full rounds evenly over the CTAs, and the last, partial round adds its longest
/// tile. Exact for equal items; O(items of the last round).
inline FwdCtaLoad fwd_cta_load(std::span<const int32_t> keys, int64_t sum, int64_t heads,
                               int num_sms) {
  const int64_t n = static_cast<int64_t>(keys.size()), tiles = n * heads;
  if (tiles == 0) return {};
  const int64_t grid = std::min<int64_t>(tiles, num_sms);
  const int64_t full = tiles - tiles % grid;  // tiles of the full rounds
  if (full == tiles) return {static_cast<double>(sum) * heads / grid, full / grid};
  const int64_t first = full / heads;  // the partial round's first (longest) item
  double last = static_cast<double>(keys[first]) * (heads * (first + 1) - full);
  for (int64_t i = first + 1; i < n; ++i) last += static_cast<double>(keys[i]) * heads;
  return {(static_cast<double>(sum) * heads - last) / grid + keys[first], full / grid + 1};
}

/// The time model of the two forwards at head dim 64, fitted on the H200 (bench/NOTES.md v30:
/// 12 shapes, 2k-32k, 16:16 and 64:8, full and causal, each within 3 % of the measured ratio):
/// the 192-row one computes cells 1.08 times as fast, and every tile costs besides a fixed time,
/// that of 640 keys of a 128-row tile (its Q load, first product and epilogue; a third of a
/// 2k-key tile).
inline constexpr double kFwdWideCellRate = 1.08;
inline constexpr double kFwdTileKeys = 640.0;

/// Whether the 192-row forward list (`wide_*`) is expected to finish before the 128-row one
/// (`narrow_*`), from the busiest CTA's load (fwd_cta_load) under the model above. The wide
/// tiles are fewer (less fixed cost) but fill the last round worse: with 16 heads the narrow
/// one wins at 2k and 8k full, the wide one at 32k; with 64 heads the wide one throughout.
inline bool prefer_wide_fwd(std::span<const int32_t> narrow_keys, int64_t narrow_sum,
                            std::span<const int32_t> wide_keys, int64_t wide_sum, int64_t heads,
                            int num_sms) {
  const FwdCtaLoad n = fwd_cta_load(narrow_keys, narrow_sum, heads, num_sms);
  const FwdCtaLoad w = fwd_cta_load(wide_keys, wide_sum, heads, num_sms);
  const double narrow = 128.0 * (n.keys + kFwdTileKeys * static_cast<double>(n.tiles));
  const double wide =
      192.0 * w.keys / kFwdWideCellRate + 128.0 * kFwdTileKeys * static_cast<double>(w.tiles);
  return wide < narrow;
}

}  // namespace magi::cuda::sm90
