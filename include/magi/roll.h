// Roll on dispatched shards: torch.roll of the global (padded) sequence, expressed as one
// all_to_all_v between the ranks that hold the rows. The plan is a value computed from the
// dispatch alone (every rank derives the same exchange), so it can be checked on the CPU.
#pragma once

#include <cstdint>
#include <vector>

#include "magi/dispatch.h"
#include "magi/mask.h"

namespace magi {

/// What one rank does for roll(x, shift): gather `send_rows` of its local buffer into a send
/// buffer (grouped by destination rank, in rank order), exchange with send_counts /
/// recv_counts (all_to_all_v: the receive buffer is grouped by source rank, in rank order), then
/// gather `out_rows` of the receive buffer into the output, whose row j is local row j.
struct RollPlan {
  AttnRanges send_rows;              // local rows, in send-buffer order (touching ones fused)
  std::vector<int64_t> send_counts;  // rows to each destination rank (size cp)
  std::vector<int64_t> recv_counts;  // rows from each source rank (size cp)
  AttnRanges out_rows;               // receive-buffer rows, in output order (touching ones fused)
  friend bool operator==(const RollPlan&, const RollPlan&) = default;
};

/// The plan of `rank`: output global row p takes input global row (p - shift) mod
/// d.total_seqlen (any shift, negative or beyond the length, as torch.roll). O(total_seqlen).
RollPlan make_roll_plan(const DispatchMeta& d, int64_t shift, int64_t rank);

}  // namespace magi
