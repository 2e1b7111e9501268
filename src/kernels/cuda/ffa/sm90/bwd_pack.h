// Whether the Hopper backward's GQA tiles should each walk their kv head's query heads
// (BwdParams::pack_heads; bench/NOTES.md v55): K / V loaded once and a tile's fixed cost paid
// once per kv head, dK / dV stored in 16 bits by their one writer, but 1 / heads_per_kv as many
// tiles (no cuts) and a tile streaming heads_per_kv heads' rows; and (development, v62) how many
// of them a tile should walk by a model of time and DRAM bytes. Host only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/cuda/ffa/sm90/bwd_traffic.h"
#include "kernels/cuda/ffa/sm90/tile_plan.h"

namespace magi::cuda::sm90 {

/// The backward's plan shape (ffa_cuda.cc: bwd_plan_shape) on `sms` multiprocessors.
struct PackProblem {
  int32_t num_heads;     // query heads
  int32_t heads_per_kv;  // > 1
  int32_t sms;
  int32_t chunk_grids;  // the plan's chunks, in grids
  TileCuts cuts;        // the per-head plan's (its tile_cost weighs both plans)
  int64_t row_bytes;    // what a query row of one head streams per walk (Q, dO, fp32 dQ, stats)
  int64_t l2_bytes;

  bool operator==(const PackProblem&) const = default;
};

/// Whether packing pays for a list whose items walk `item_cost` query tiles of kBlockM rows (a
/// query head's walk), by three tests that together pick, of the sixteen 64:8 shapes measured on
/// an H100 (v55, v56: hd 128 and 64, full / causal at 2k-32k, varlen_causal and swa_causal at 8k
/// and 32k), the two that ran well faster packed (8k swa_causal 1.29-1.30x, 2k full 1.12-1.14x
/// at hd 64 and 128) and 8k varlen_causal (0.99-1.02x), and none that ran slower:
/// - short walks: at most kPackMaxMeanWalk query tiles an item on average. Packing saves at most
///   7/8 of a tile's fixed cost (3.4-4 query tiles, bench/NOTES.md v44) per walk and cost 2-6 %
///   where it saved little (v56: 8k causal, 65 tiles a walk, 0.94x at hd 64; 8k full 0.97x), so
///   it pays below about 35 (32k swa_causal, 62 a walk, ran 1.01-1.04x: left per head);
/// - balance: the packed plan's busiest CTA has less work than the per-head plan's (both
///   weighed at the cuts' tile_cost; 2k causal: 128 packed tiles, the longest of them the
///   kernel, 0.64 modelled, 0.70x measured);
/// - L2: the rows of the longest walk, for all the kv head's query heads, take at most two thirds
///   of the L2 (the CTAs of a round walk neighbouring key blocks of one kv head, so they share
///   those rows; 32k varlen_causal: documents of up to 7.3k rows, 60 MB at 64:8 hd 128, 0.79x;
///   32k causal 0.73x).
inline constexpr int64_t kPackMaxMeanWalk = 32;

template <int kBlockM>
bool pack_pays(const std::vector<int32_t>& item_cost, const PackProblem& pb) {
  MAGI_CHECK(pb.heads_per_kv > 1 && pb.num_heads % pb.heads_per_kv == 0 && pb.sms >= 1 &&
                 pb.chunk_grids >= 1,
             "FFA CUDA: bad packing problem (", pb.num_heads, " heads, ", pb.heads_per_kv,
             " a kv head, ", pb.sms, " SMs)");
  const int64_t items = static_cast<int64_t>(item_cost.size());
  const int32_t longest = items == 0 ? 0 : *std::max_element(item_cost.begin(), item_cost.end());
  if (longest == 0) return false;
  int64_t walked = 0;
  for (const int32_t c : item_cost) walked += c;
  if (walked > kPackMaxMeanWalk * items) return false;
  const int64_t rows = int64_t{longest} * kBlockM * pb.heads_per_kv;
  if (3 * rows * pb.row_bytes > 2 * pb.l2_bytes) return false;
  const int32_t kv_heads = pb.num_heads / pb.heads_per_kv;
  const auto grid_of = [&](int32_t heads) {
    return static_cast<int32_t>(std::min<int64_t>(items * heads, pb.sms));
  };
  const int32_t per_head_grid = grid_of(pb.num_heads), packed_grid = grid_of(kv_heads);
  const TilePlan per_head = plan_tiles(item_cost, pb.num_heads, per_head_grid,
                                       int64_t{pb.chunk_grids} * per_head_grid, {}, pb.cuts);
  const TilePlan packed = plan_tiles(walked_costs(item_cost, pb.heads_per_kv), kv_heads,
                                     packed_grid, int64_t{pb.chunk_grids} * packed_grid);
  const int32_t fixed = pb.cuts.tile_cost;
  return busiest_cta(packed, item_cost, kv_heads, pb.heads_per_kv, fixed) <
         busiest_cta(per_head, item_cost, pb.num_heads, 1, fixed);
}

/// The time of a backward plan under v62's model (bench/NOTES.md): the busiest CTA's steps (a
/// 64-row query tile of one head against a 128-key block) plus the DRAM bytes of its replay
/// (bwd_traffic.h). Fitted on an H100 (64:8, hd 128, four masks at 8k, three tile widths):
/// 2.19 us a step, 0.263 ms a GB, every point within 6 %.
struct TrafficCost {
  double step_s = 2.19e-6;  // at hd 128; a step's products scale with the head dim
  double byte_s = 0.263e-12;
};

/// The tile widths walks_by_traffic weighs: the n dividing heads_per_kv (the kernels'
/// BwdParams::pack_heads), or none where the walks of `item_cost` average more than
/// kPackMaxMeanWalk query tiles (then tiles of one head, as pack_pays keeps them: the model was
/// fitted on short walks, and replaying long ones takes too long for a first call: full 32k,
/// 0.6 s) or there is no item.
inline std::vector<int32_t> traffic_widths(const std::vector<int32_t>& item_cost,
                                           const PackProblem& pb) {
  MAGI_CHECK(pb.heads_per_kv >= 1 && pb.num_heads % pb.heads_per_kv == 0 && pb.sms >= 1 &&
                 pb.chunk_grids >= 1,
             "FFA CUDA: bad packing problem (", pb.num_heads, " heads, ", pb.heads_per_kv,
             " a kv head, ", pb.sms, " SMs)");
  int64_t walked = 0;
  for (const int32_t c : item_cost) walked += c;
  if (item_cost.empty() || walked > kPackMaxMeanWalk * std::ssize(item_cost)) return {};
  std::vector<int32_t> widths;
  for (int32_t n = 1; n <= pb.heads_per_kv; ++n) {
    if (pb.heads_per_kv % n == 0) widths.push_back(n);
  }
  return widths;
}

/// The time under `cost` of the plan of tiles of n query heads as the kernel runs it (pack_pays'
/// shapes: a tile of one head may be cut, one of several is not), replayed over the list `items`
/// / `segs` (`item_cost` its walks) through half the L2, the size at which the replay came
/// nearest the H100's counters (v59, v62). Independent of the other widths' (callers may weigh
/// them in parallel: prepared_work.cc).
template <int kBlockM>
double traffic_time(int32_t n, const std::vector<int32_t>& item_cost,
                    std::span<const FfaWorkItem> items, std::span<const FfaSegment> segs,
                    const PackProblem& pb, int32_t head_dim, const TrafficCost& cost = {}) {
  static_assert(kBlockM == 64, "the replay's query tiles are 64 rows");
  MAGI_CHECK(
      n >= 1 && pb.heads_per_kv % n == 0 && item_cost.size() == items.size() && !items.empty(),
      "FFA CUDA: bad tile width ", n, " (", pb.heads_per_kv, " heads a kv head, ", items.size(),
      " items)");
  const int32_t heads = pb.num_heads / n;
  const auto grid =
      static_cast<int32_t>(std::min<int64_t>(std::ssize(items) * heads, int64_t{pb.sms}));
  TileCuts cuts = pb.cuts;
  cuts.on = cuts.on && n == 1;
  const TilePlan plan =
      plan_tiles(walked_costs(item_cost, n), heads, grid, int64_t{pb.chunk_grids} * grid, {}, cuts);
  const BwdTraffic t = replay_bwd_traffic(
      plan, items, segs, {pb.num_heads, pb.heads_per_kv, n, head_dim, pb.l2_bytes / 2});
  return static_cast<double>(t.busiest_steps) * cost.step_s * head_dim / 128 +
         static_cast<double>(t.read + t.written) * cost.byte_s;
}

/// Of `widths` (traffic_widths') and their `times` (traffic_time's), the width that takes least;
/// of equal times the fewer heads; 1 where there are none.
inline int32_t fastest_width(std::span<const int32_t> widths, std::span<const double> times) {
  MAGI_CHECK(widths.size() == times.size(), "FFA CUDA: ", widths.size(), " widths, ", times.size(),
             " times");
  int32_t best = 1;
  double best_s = 0.0;
  for (size_t i = 0; i < widths.size(); ++i) {
    if (i == 0 || times[i] < best_s || (times[i] == best_s && widths[i] < best)) {
      best = widths[i];
      best_s = times[i];
    }
  }
  return best;
}

/// Of tiles of n query heads, the n whose plan takes least under `cost` (traffic_widths,
/// traffic_time and fastest_width, one width after another).
/// The default since v63 (ffa_cuda.cc: bwd_pack_heads; MAGI_FFA_BWD_PACK=2 the rule): on an H100
/// it picked, of 24 64:8 and 32:4 hd 128 shapes, 9 tile widths the rule did not: 8 ran 1.00-1.37x
/// the rule's, one (16k swa_causal 32:4) 0.91-0.98x (bench/NOTES.md v63).
template <int kBlockM>
int32_t walks_by_traffic(const std::vector<int32_t>& item_cost, std::span<const FfaWorkItem> items,
                         std::span<const FfaSegment> segs, const PackProblem& pb, int32_t head_dim,
                         const TrafficCost& cost = {}) {
  MAGI_CHECK(item_cost.size() == items.size(), "FFA CUDA: ", item_cost.size(), " item costs, ",
             items.size(), " items");
  const std::vector<int32_t> widths = traffic_widths(item_cost, pb);
  std::vector<double> times;
  for (const int32_t n : widths) {
    times.push_back(traffic_time<kBlockM>(n, item_cost, items, segs, pb, head_dim, cost));
  }
  return fastest_width(widths, times);
}

}  // namespace magi::cuda::sm90
