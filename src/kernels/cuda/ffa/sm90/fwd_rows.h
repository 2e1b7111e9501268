// Which Hopper forward runs a call at head dims that have two (tile_table.h): 128-row items on
// two consumer warpgroups or 192-row items on three. A pure host function of the two work
// lists' item costs (unit-tested on the CPU, tests/kernels/cuda/sm90/fwd_rows_test.cc), O(1)
// per call from sums kept with each list.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

namespace magi::cuda::sm90 {

/// What the busiest CTA walks in the forward: keys (estimated) and tiles.
struct FwdCtaLoad {
  double keys = 0.0;
  int64_t tiles = 0;
};

/// The suffix sums of a forward list's keys per item: [i] = keys of items i.. (size + 1 entries),
/// what fwd_cta_load reads; built once per list.
inline std::vector<int64_t> keys_from(std::span<const int32_t> keys) {
  std::vector<int64_t> from(keys.size() + 1, 0);
  for (size_t i = keys.size(); i-- > 0;) from[i] = from[i + 1] + keys[i];
  return from;
}

/// The busiest CTA's load in the forward over a longest-first work list (work_list.h) whose
/// items walk the keys that `from` sums (keys_from), for `heads` query heads on the persistent
/// grid: tiles are items x heads in rounds of `grid` (tile_scheduler.h, item-major), the snake
/// order spreads the full rounds evenly over the CTAs, and the last, partial round adds its
/// longest tile. Exact for equal items.
inline FwdCtaLoad fwd_cta_load(std::span<const int64_t> from, int64_t heads, int num_sms) {
  const int64_t n = static_cast<int64_t>(from.size()) - 1, tiles = n * heads;
  if (tiles <= 0) return {};
  const int64_t grid = std::min<int64_t>(tiles, num_sms);
  const int64_t full = tiles - tiles % grid;  // tiles of the full rounds
  const double all = static_cast<double>(from[0]) * heads;
  if (full == tiles) return {all / grid, full / grid};
  const int64_t first = full / heads;  // the partial round's first (longest) item
  const double first_keys = static_cast<double>(from[first] - from[first + 1]);
  const double last = first_keys * static_cast<double>(heads * (first + 1) - full) +
                      static_cast<double>(from[first + 1]) * heads;
  return {(all - last) / grid + first_keys, full / grid + 1};
}

/// The time model of the two forwards at head dim 64, fitted on the H200 (bench/NOTES.md v30:
/// 12 shapes, 2k-32k, 16:16 and 64:8, full and causal, each within 3 % of the measured ratio):
/// the 192-row one computes cells 1.08 times as fast, and every tile costs besides a fixed time,
/// that of 640 keys of a 128-row tile (its Q load, first product and epilogue; a third of a
/// 2k-key tile).
inline constexpr double kFwdWideCellRate = 1.08;
inline constexpr double kFwdTileKeys = 640.0;

/// Whether the 192-row forward list (`wide_from`) is expected to finish before the 128-row one
/// (`narrow_from`), from the busiest CTA's load (fwd_cta_load) under the model above. The wide
/// tiles are fewer (less fixed cost) but fill the last round worse: with 16 heads the narrow
/// one wins at 2k and 8k full, the wide one at 32k; with 64 heads the wide one throughout.
inline bool prefer_wide_fwd(std::span<const int64_t> narrow_from,
                            std::span<const int64_t> wide_from, int64_t heads, int num_sms) {
  const FwdCtaLoad n = fwd_cta_load(narrow_from, heads, num_sms);
  const FwdCtaLoad w = fwd_cta_load(wide_from, heads, num_sms);
  const double narrow = 128.0 * (n.keys + kFwdTileKeys * static_cast<double>(n.tiles));
  const double wide =
      192.0 * w.keys / kFwdWideCellRate + 128.0 * kFwdTileKeys * static_cast<double>(w.tiles);
  return wide < narrow;
}

}  // namespace magi::cuda::sm90
