#include <vector>

#include "magi/check.h"
#include "magi/roll.h"

namespace magi {
namespace {

/// Appends row `r` to `out`, fusing it with the last range when they touch.
void push_row(std::vector<AttnRange>& out, int64_t r) {
  if (!out.empty() && out.back().end == r) {
    ++out.back().end;
  } else {
    out.push_back({r, r + 1});
  }
}

}  // namespace

RollPlan make_roll_plan(const DispatchMeta& d, int64_t shift, int64_t rank) {
  MAGI_CHECK(rank >= 0 && rank < d.cp_size, "rank = ", rank,
             ": must be in [0, cp_size = ", d.cp_size, ")");
  const int64_t total = d.total_seqlen, cp = d.cp_size;
  MAGI_CHECK(total >= 1, "roll: the dispatch has total_seqlen = ", total);
  // Where each global row lives: its owner and its row in the owner's local buffer.
  std::vector<int64_t> owner(static_cast<size_t>(total), -1), local(static_cast<size_t>(total));
  std::vector<std::vector<int64_t>> ids(static_cast<size_t>(cp));
  for (int64_t r = 0; r < cp; ++r) {
    ids[r] = d.position_ids(r);
    for (size_t i = 0; i < ids[r].size(); ++i) {
      owner[ids[r][i]] = r;
      local[ids[r][i]] = static_cast<int64_t>(i);
    }
  }
  const int64_t s = ((shift % total) + total) % total;
  auto source = [&](int64_t p) { return (p - s + total) % total; };

  RollPlan plan;
  plan.send_counts.assign(static_cast<size_t>(cp), 0);
  plan.recv_counts.assign(static_cast<size_t>(cp), 0);
  // Send side: for each destination in rank order, the rows it takes from me, in its output
  // order (which is the order it reads them from its receive buffer section of my rank).
  std::vector<AttnRange> send;
  for (int64_t dst = 0; dst < cp; ++dst) {
    for (int64_t p : ids[dst]) {
      const int64_t src = source(p);
      if (owner[src] != rank) continue;
      push_row(send, local[src]);
      ++plan.send_counts[dst];
    }
  }
  // Receive side: my output rows grouped by the rank that holds their source, each group in
  // output order; out_rows maps output row j to its receive-buffer row.
  const std::vector<int64_t>& mine = ids[rank];
  for (int64_t p : mine) ++plan.recv_counts[owner[source(p)]];
  std::vector<int64_t> next(static_cast<size_t>(cp), 0);  // next free row of each section
  for (int64_t r = 1; r < cp; ++r) next[r] = next[r - 1] + plan.recv_counts[r - 1];
  std::vector<AttnRange> out;
  for (int64_t p : mine) push_row(out, next[owner[source(p)]]++);
  plan.send_rows = AttnRanges(std::move(send));
  plan.out_rows = AttnRanges(std::move(out));
  return plan;
}

}  // namespace magi
