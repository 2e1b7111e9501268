#include <algorithm>
#include <string>

#include "common/ceil_div.h"
#include "dispatch/chunked_mask.h"
#include "magi/check.h"
#include "magi/dispatch.h"

namespace magi {
namespace dispatch {

std::vector<int64_t> ChunkedMask::costs() const {
  std::vector<int64_t> out(static_cast<size_t>(num_chunks()), 0);
  for (int64_t c = 0; c < num_chunks(); ++c) {
    for (const ChunkPiece& p : chunk(c)) out[c] += p.band.area();
  }
  return out;
}

ChunkedMask cut_into_chunks(std::span<const AttnSlice> slices, int64_t total_seqlen,
                            int64_t chunk_size) {
  MAGI_CHECK(chunk_size >= 1, "chunk_size = ", chunk_size, ": must be >= 1");
  MAGI_CHECK(total_seqlen >= 0, "total_seqlen = ", total_seqlen, ": must be >= 0");
  for (size_t i = 0; i < slices.size(); ++i) {
    const std::string idx = "[" + std::to_string(i) + "]";
    check_range(slices[i].q, "q_ranges" + idx, total_seqlen);
    check_range(slices[i].k, "k_ranges" + idx);
    mask_type_from_int(static_cast<int64_t>(slices[i].type));
  }

  ChunkedMask m;
  m.total_seqlen = total_seqlen;
  m.chunk_size = chunk_size;
  m.disjoint = make_disjoint(slices);
  const int64_t num_chunks = ceil_div(total_seqlen, chunk_size);
  m.offsets.assign(static_cast<size_t>(num_chunks) + 1, 0);

  // NOTE: sweep on the trimmed rows (rows that hold a cell): a CAUSAL slice with Sk < Sq has
  // empty rows at the top, which must not produce pieces or keep the slice active.
  std::vector<mask::Band> bands;
  std::vector<int64_t> order;
  bands.reserve(m.disjoint.size());
  for (const AttnSlice& s : m.disjoint) {
    bands.push_back(mask::Band::from_slice(s).trimmed());
    if (!bands.back().empty()) order.push_back(static_cast<int64_t>(bands.size()) - 1);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return bands[a].q.start < bands[b].q.start; });

  // `active` holds the slices that started before the chunk's end and may reach into it. A
  // slice enters once and leaves once, and each chunk visits only its active slices.
  std::vector<int64_t> active;
  size_t next = 0;
  for (int64_t c = 0; c < num_chunks; ++c) {
    const AttnRange rows{c * chunk_size, std::min((c + 1) * chunk_size, total_seqlen)};
    std::erase_if(active, [&](int64_t i) { return bands[i].q.end <= rows.start; });
    while (next < order.size() && bands[order[next]].q.start < rows.end) {
      active.push_back(order[next++]);
    }
    for (int64_t i : active) {
      // Restricting the rows of a trimmed band keeps every remaining row non-empty; trimming
      // again shrinks the columns to those the chunk's rows reach.
      const mask::Band piece = bands[i].with_rows(rows).trimmed();
      if (!piece.empty()) m.pieces.push_back({i, piece});
    }
    m.offsets[c + 1] = static_cast<int64_t>(m.pieces.size());
  }
  return m;
}

}  // namespace dispatch

std::vector<int64_t> chunk_costs(std::span<const AttnSlice> slices, int64_t total_seqlen,
                                 int64_t chunk_size) {
  return dispatch::cut_into_chunks(slices, total_seqlen, chunk_size).costs();
}

}  // namespace magi
