// The attention plan: for each CP rank, which slices it computes against its own K/V (the host
// stage), which remote K/V rows it receives in which overlap stage, the slices of each stage in
// receive-buffer coordinates, and the group-cast / group-reduce tables. A plan is an immutable
// value computed from the global mask alone: every rank derives the same one, so key creation
// needs no collective communication.
//
// Buffers (per rank; rows are tokens, each row holds all kv heads):
//   local   the rank's own K/V rows, kv_host_ranges (global, merged) stored in ascending order;
//           its own q rows are host_ranges, stored the same way. Self-attention dispatches q
//           and K/V together (the two are equal); cross-attention dispatches them separately,
//           and every k range then indexes K/V's own sequence.
//   recv    one per stage: the rows received in that stage, grouped by source rank in rank
//           order, ascending within a source. This is exactly the order all_to_all_v delivers,
//           so group-cast needs no scatter after the exchange.
//   stage   the K/V rows a stage's slices read: its recv rows, or [local; recv] for a stage
//           that reads_local (degree 0: no overlap is one stage over every key, and the host
//           stage is empty).
//   send    one per stage: local rows gathered at send_rows, grouped by destination rank.
// Group-reduce (backward) runs the same tables in reverse: the recv-layout partial dK/dV goes
// back with recv_counts as send counts, and the owner scatter-adds what arrives at send_rows.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "magi/config.h"
#include "magi/dispatch.h"
#include "magi/mask.h"

namespace magi {

/// One overlap stage of one rank.
struct StagePlan {
  AttnRanges recv_global;            // global rows received, in recv-buffer order
  std::vector<int64_t> recv_counts;  // rows from each source rank (size cp)
  AttnRanges send_rows;              // local rows to gather, in send-buffer order
  std::vector<int64_t> send_counts;  // rows to each destination rank (size cp)
  std::vector<AttnSlice> slices;     // q: local rows; k: stage-buffer rows
  bool reads_local = false;          // the stage buffer is [local rows; recv] (degree 0)

  int64_t num_recv() const { return recv_global.total_size(); }
  int64_t num_send() const { return send_rows.total_size(); }
  friend bool operator==(const StagePlan&, const StagePlan&) = default;
};

struct RankPlan {
  int64_t rank = 0;
  AttnRanges host_ranges;              // global q rows of the local buffer (merged, ascending)
  AttnRanges kv_host_ranges;           // global K/V rows of the local buffer (merged, ascending)
  std::vector<AttnSlice> host_slices;  // q and k: local rows (none at degree 0)
  std::vector<StagePlan> stages;       // same count on every rank (empty stages allowed)
  int64_t host_area = 0;               // cells against local K/V (degree 0: in stage 0)
  int64_t remote_area = 0;             // cells against received K/V

  int64_t num_recv() const;
  friend bool operator==(const RankPlan&, const RankPlan&) = default;
};

struct Plan {
  DispatchMeta dispatch;        // of q (and of K/V in self-attention)
  DispatchMeta dispatch_kv;     // of K/V: equal to `dispatch` in self-attention
  int64_t degree = 0;           // effective overlap degree (0: no overlap); stages = max(degree, 1)
  std::vector<RankPlan> ranks;  // every rank, or the one asked for (see make_rank_plan)

  int64_t cp_size() const { return dispatch.cp_size; }
  /// JSON for debugging and the CLI: per-rank areas, stage sizes, tables and slices.
  std::string to_json(bool with_slices = false) const;
  friend bool operator==(const Plan&, const Plan&) = default;
};

/// Builds the plan of every rank. `slices` is the padded global mask (any overlap allowed: the
/// union is used); `dispatch` places the chunks of q and K/V alike (self-attention).
Plan make_plan(std::span<const AttnSlice> slices, const DispatchMeta& dispatch,
               const OverlapConfig& overlap);

/// Cross-attention: `dispatch` places the q chunks (q ranges index them), `dispatch_kv` the K/V
/// chunks (k ranges index them); both over the same cp_size.
Plan make_plan(std::span<const AttnSlice> slices, const DispatchMeta& dispatch,
               const DispatchMeta& dispatch_kv, const OverlapConfig& overlap);

/// The plan of one rank only (ranks has one element). Equal to make_plan(...).ranks[rank].
Plan make_rank_plan(std::span<const AttnSlice> slices, const DispatchMeta& dispatch,
                    const OverlapConfig& overlap, int64_t rank);
Plan make_rank_plan(std::span<const AttnSlice> slices, const DispatchMeta& dispatch,
                    const DispatchMeta& dispatch_kv, const OverlapConfig& overlap, int64_t rank);

}  // namespace magi
