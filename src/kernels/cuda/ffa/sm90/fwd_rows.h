// Which Hopper forward runs a call at head dims that have two (tile_table.h): 128-row items on
// two consumer warpgroups or 192-row items on three. A pure host function of the two work
// lists' item costs (unit-tested on the CPU, tests/kernels/cuda/sm90/fwd_rows_test.cc).
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>

namespace magi::cuda::sm90 {

/// Estimated keys a CTA walks in the forward over a longest-first work list (work_list.h) whose
/// items walk `keys[i]` keys (`sum` in all), for `heads` query heads on the persistent grid:
/// tiles are items x heads in rounds of `grid` (tile_scheduler.h, item-major), the snake order
/// spreads the full rounds evenly over the CTAs, and the last, partial round adds its longest
/// tile. Exact for equal items; O(items of the last round).
inline double fwd_keys_per_cta(std::span<const int32_t> keys, int64_t sum, int64_t heads,
                               int num_sms) {
  const int64_t n = static_cast<int64_t>(keys.size()), tiles = n * heads;
  if (tiles == 0) return 0.0;
  const int64_t grid = std::min<int64_t>(tiles, num_sms);
  const int64_t full = tiles - tiles % grid;  // tiles of the full rounds
  if (full == tiles) return static_cast<double>(sum) * heads / grid;
  const int64_t first = full / heads;  // the partial round's first (longest) item
  double last = static_cast<double>(keys[first]) * (heads * (first + 1) - full);
  for (int64_t i = first + 1; i < n; ++i) last += static_cast<double>(keys[i]) * heads;
  return (static_cast<double>(sum) * heads - last) / grid + keys[first];
}

/// Measured cells per second of the 192-row forward over the 128-row one where both exist (head
/// dim 64; bench/NOTES.md v30: 1.05-1.09 at 32k, where the rounds fill alike).
inline constexpr double kFwdWideCellRate = 1.08;

/// Whether the 192-row forward list (`wide_*`) is expected to finish before the 128-row one
/// (`narrow_*`): rows times keys per CTA (fwd_keys_per_cta), over each kernel's cell rate. Its
/// larger tiles fill the last round worse: at 8k MHA the narrow one wins, at 32k the wide one.
inline bool prefer_wide_fwd(std::span<const int32_t> narrow_keys, int64_t narrow_sum,
                            std::span<const int32_t> wide_keys, int64_t wide_sum, int64_t heads,
                            int num_sms) {
  return 192.0 * fwd_keys_per_cta(wide_keys, wide_sum, heads, num_sms) <
         kFwdWideCellRate * 128.0 * fwd_keys_per_cta(narrow_keys, narrow_sum, heads, num_sms);
}

}  // namespace magi::cuda::sm90
