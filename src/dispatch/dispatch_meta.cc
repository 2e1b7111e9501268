#include <algorithm>

#include "common/ceil_div.h"
#include "magi/check.h"
#include "magi/dispatch.h"

namespace magi {
namespace {

void check_rank(const DispatchMeta& m, int64_t rank) {
  MAGI_CHECK(rank >= 0 && rank < m.cp_size, "rank = ", rank,
             ": must be in [0, cp_size = ", m.cp_size, ")");
}

}  // namespace

AttnRange DispatchMeta::chunk_rows(int64_t c) const {
  MAGI_CHECK(c >= 0 && c < num_chunks(), "chunk = ", c,
             ": must be in [0, num_chunks = ", num_chunks(), ")");
  return {c * chunk_size, std::min((c + 1) * chunk_size, total_seqlen)};
}

int64_t DispatchMeta::shard_seqlen(int64_t rank) const {
  check_rank(*this, rank);
  int64_t n = 0;
  for (int64_t c : partitions[rank]) n += chunk_rows(c).size();
  return n;
}

std::vector<int64_t> DispatchMeta::shard_seqlens() const {
  std::vector<int64_t> out(static_cast<size_t>(cp_size));
  for (int64_t r = 0; r < cp_size; ++r) out[r] = shard_seqlen(r);
  return out;
}

AttnRanges DispatchMeta::host_ranges(int64_t rank) const {
  check_rank(*this, rank);
  // Partitions are ascending, so fusing touching neighbours gives the merged set directly, in
  // the order the local buffer stores the rows.
  std::vector<AttnRange> out;
  for (int64_t c : partitions[rank]) {
    const AttnRange r = chunk_rows(c);
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
  ids.reserve(static_cast<size_t>(shard_seqlen(rank)));
  for (int64_t c : partitions[rank]) {
    const AttnRange r = chunk_rows(c);
    for (int64_t t = r.start; t < r.end; ++t) ids.push_back(t);
  }
  return ids;
}

int64_t DispatchMeta::owner(int64_t token) const {
  MAGI_CHECK(token >= 0 && token < total_seqlen, "token = ", token,
             ": must be in [0, total_seqlen = ", total_seqlen, ")");
  MAGI_CHECK(chunk_size >= 1, "DispatchMeta: chunk_size = ", chunk_size, ": must be >= 1");
  // The gathered position of the chunk tells the rank: ranks hold consecutive positions.
  int64_t pos = unperm[token / chunk_size];
  for (int64_t r = 0; r < cp_size; ++r) {
    const int64_t n = static_cast<int64_t>(partitions[r].size());
    if (pos < n) return r;
    pos -= n;
  }
  MAGI_FAIL("token = ", token, ": its chunk is in no partition");
}

std::vector<int64_t> DispatchMeta::rank_costs() const {
  std::vector<int64_t> out(static_cast<size_t>(cp_size), 0);
  for (int64_t r = 0; r < cp_size; ++r) {
    for (int64_t c : partitions[r]) out[r] += costs[c];
  }
  return out;
}

void DispatchMeta::validate() const {
  MAGI_CHECK(cp_size >= 1 && chunk_size >= 1 && total_seqlen >= 1,
             "DispatchMeta: cp_size = ", cp_size, ", chunk_size = ", chunk_size,
             ", total_seqlen = ", total_seqlen, ": each must be >= 1");
  const int64_t n = ceil_div(total_seqlen, chunk_size);
  MAGI_CHECK(num_chunks() == n && static_cast<int64_t>(perm.size()) == n &&
                 static_cast<int64_t>(unperm.size()) == n,
             "DispatchMeta: ", num_chunks(), " chunk costs, ", perm.size(), " perm and ",
             unperm.size(), " unperm entries, where total_seqlen ", total_seqlen, " in chunks of ",
             chunk_size, " makes ", n);
  MAGI_CHECK(static_cast<int64_t>(partitions.size()) == cp_size,
             "DispatchMeta: ", partitions.size(), " partitions for cp_size = ", cp_size);
  std::vector<bool> seen(static_cast<size_t>(n), false);
  int64_t pos = 0;
  for (int64_t r = 0; r < cp_size; ++r) {
    for (const int64_t c : partitions[r]) {
      MAGI_CHECK(c >= 0 && c < n && !seen[c], "DispatchMeta: chunk ", c, " of rank ", r,
                 c >= 0 && c < n ? " is in two partitions" : " is out of range");
      seen[c] = true;
      MAGI_CHECK(perm[pos] == c && unperm[c] == pos, "DispatchMeta: perm / unperm disagree with ",
                 "the partitions at chunk ", c);
      ++pos;
    }
  }
  MAGI_CHECK(pos == n, "DispatchMeta: the partitions hold ", pos, " of ", n, " chunks");
}

}  // namespace magi
