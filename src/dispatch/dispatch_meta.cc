#include "magi/check.h"
#include "magi/dispatch.h"

namespace magi {
namespace {

void check_rank(const DispatchMeta& m, int64_t rank) {
  MAGI_CHECK(rank >= 0 && rank < m.cp_size, "rank = ", rank,
             ": must be in [0, cp_size = ", m.cp_size, ")");
}

}  // namespace

AttnRanges DispatchMeta::host_ranges(int64_t rank) const {
  check_rank(*this, rank);
  // Partitions are ascending, so fusing touching neighbours gives the merged set directly, in
  // the order the local buffer stores the rows.
  std::vector<AttnRange> out;
  for (int64_t c : partitions[rank]) {
    const AttnRange r{c * chunk_size, (c + 1) * chunk_size};
    if (!out.empty() && out.back().end == r.start) {
      out.back().end = r.end;
    } else {
      out.push_back(r);
    }
  }
  return AttnRanges(std::move(out));
}

std::vector<int64_t> DispatchMeta::position_ids(int64_t rank) const {
  check_rank(*this, rank);
  std::vector<int64_t> ids;
  ids.reserve(partitions[rank].size() * static_cast<size_t>(chunk_size));
  for (int64_t c : partitions[rank]) {
    for (int64_t t = c * chunk_size; t < (c + 1) * chunk_size; ++t) ids.push_back(t);
  }
  return ids;
}

int64_t DispatchMeta::owner(int64_t token) const {
  MAGI_CHECK(token >= 0 && token < total_seqlen, "token = ", token,
             ": must be in [0, total_seqlen = ", total_seqlen, ")");
  // Every rank holds the same number of chunks, so the gathered position tells the rank.
  const int64_t per_rank = num_chunks() / cp_size;
  return unperm[token / chunk_size] / per_rank;
}

std::vector<int64_t> DispatchMeta::rank_costs() const {
  std::vector<int64_t> out(static_cast<size_t>(cp_size), 0);
  for (int64_t r = 0; r < cp_size; ++r) {
    for (int64_t c : partitions[r]) out[r] += costs[c];
  }
  return out;
}

}  // namespace magi
