// Hierarchical communication over a 2-D mesh of CP ranks (inter-node x intra-node): the
// group-cast of a flat Plan re-planned in two levels, so that a remote K/V row crosses the
// inter-node dimension at most once per destination node and then fans out inside the node.
//
// Routing of a row owned by rank `src` and needed by rank `dst` in stage s:
//   same node          one intra-node hop, src -> dst (as in the flat plan);
//   another node N     one inter-node hop, src -> relay(src, N) = the rank of node N with src's
//                      local index (the same "rail"), in the first stage any rank of N needs the
//                      row; the relay keeps it, and in stage s sends it to dst with one
//                      intra-node hop unless dst is the relay itself.
// A hierarchical plan is a pure function of the flat plan and the mesh (CommMesh, config.h; no
// communication), an immutable value like the Plan. The runtime executes it when the key's
// DistAttnConfig::hier_mesh is set (src/runtime/hier_exchange.cc), per stage: all_to_all_v
// (inter), then all_to_all_v(intra), then one gather (`assemble`) that rebuilds the flat
// stage's receive buffer, so the flat plan's stage slices apply unchanged.
//
// Group-reduce (backward) runs the tables in reverse with sums: assemble scatter-adds into
// [inter buffers; intra buffer], the intra exchange returns partials to the relays and owners
// (scatter-add at the intra send rows), and the inter exchange of stage s returns the relay's
// sums to the owners once every later stage that reads its buffer has been reduced.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "magi/mask.h"
#include "magi/plan.h"

namespace magi {

/// One rank's side of one all_to_all_v over the whole CP group.
struct ExchangeTable {
  AttnRanges send_rows;              // rows of the source buffer to gather, in send order
  std::vector<int64_t> send_counts;  // rows to each rank (size cp), in rank order
  AttnRanges recv_global;            // global rows received: by source rank, ascending within
  std::vector<int64_t> recv_counts;  // rows from each rank (size cp)

  int64_t num_send() const { return send_rows.total_size(); }
  int64_t num_recv() const { return recv_global.total_size(); }
  friend bool operator==(const ExchangeTable&, const ExchangeTable&) = default;
};

/// One stage of one rank, two levels.
struct HierStagePlan {
  /// Inter-node level: only between ranks of the same local index on different nodes. Source
  /// buffer: the rank's local rows. Received rows are kept for the rest of the call.
  ExchangeTable inter;
  /// Intra-node level: only between ranks of one node. Source buffer: [local rows; inter.recv of
  /// stages 0..s] (back to back, in that order).
  ExchangeTable intra;
  /// Rows of [inter.recv of stages 0..s; intra.recv of this stage] that, gathered in order,
  /// give the flat StagePlan's receive buffer (its recv_global, row for row).
  AttnRanges assemble;
  friend bool operator==(const HierStagePlan&, const HierStagePlan&) = default;
};

struct HierRankPlan {
  int64_t rank = 0;
  std::vector<HierStagePlan> stages;  // as many as the flat plan's
  friend bool operator==(const HierRankPlan&, const HierRankPlan&) = default;
};

/// Rows moved by a group-cast (forward; the group-reduce moves the same rows back), summed over
/// ranks and stages. Bytes = rows * bytes per row.
struct CommVolume {
  int64_t inter_rows = 0;  // rows that cross between nodes
  int64_t intra_rows = 0;  // rows that move between ranks of one node
  friend bool operator==(const CommVolume&, const CommVolume&) = default;
};

struct HierPlan {
  CommMesh mesh;
  std::vector<HierRankPlan> ranks;  // every rank (a runtime keeps its own rank's only)

  /// Rows received at each level (inter: inter.recv; intra: intra.recv), over the ranks held
  /// and all stages.
  CommVolume volume() const;
  /// JSON for debugging and the CLI: the mesh, per-level volumes, per rank and stage the
  /// counts (and with `with_rows`, the ranges).
  std::string to_json(bool with_rows = false) const;
  friend bool operator==(const HierPlan&, const HierPlan&) = default;
};

/// Rows the flat plan moves within nodes and across nodes of `mesh`.
CommVolume flat_volume(const Plan& plan, const CommMesh& mesh);

/// The two-level form of `plan`, which must hold every rank (make_plan, not make_rank_plan).
/// Throws, naming the values, on a mesh that does not match the plan's cp size.
HierPlan make_hier_plan(const Plan& plan, const CommMesh& mesh);

}  // namespace magi
