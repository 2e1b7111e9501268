#include "sim/block_cells.h"

#include <algorithm>

#include "magi/check.h"

namespace magi::sim::detail {

BlockCells::BlockCells(std::span<const AttnSlice> slices, int64_t total_seqlen, RingLayout layout,
                       int64_t cp)
    : slices_(make_disjoint(slices)),
      total_(total_seqlen),
      num_blocks_(layout == RingLayout::kZigzag ? 2 * cp : cp),
      cp_(cp),
      layout_(layout) {
  MAGI_CHECK(cp >= 1, "cp = ", cp, ": must be >= 1");
  MAGI_CHECK(total_seqlen >= 1, "total_seqlen = ", total_seqlen, ": must be >= 1");
  check_slices(slices_, total_seqlen, total_seqlen);
  by_block_.resize(num_blocks_);
  for (size_t i = 0; i < slices_.size(); ++i) {
    // Block b starts at b * total / B, so the row x lies in block floor((x * B + B - 1) / total)
    // or the one before; scanning from a lower bound is exact and cheap.
    int64_t b = std::max<int64_t>(0, slices_[i].q.start * num_blocks_ / total_ - 1);
    for (; b < num_blocks_ && block(b).start < slices_[i].q.end; ++b) {
      if (!block(b).intersect(slices_[i].q).empty())
        by_block_[b].push_back(static_cast<int32_t>(i));
    }
  }
}

AttnRange BlockCells::block(int64_t b) const {
  return {b * total_ / num_blocks_, (b + 1) * total_ / num_blocks_};
}

std::vector<int64_t> BlockCells::blocks_of(int64_t rank) const {
  if (layout_ == RingLayout::kZigzag) return {rank, 2 * cp_ - 1 - rank};
  return {rank};
}

std::vector<AttnRange> BlockCells::rows(int64_t rank) const {
  std::vector<AttnRange> out;
  for (int64_t b : blocks_of(rank)) out.push_back(block(b));
  return out;
}

int64_t BlockCells::num_rows(int64_t rank) const {
  int64_t n = 0;
  for (const AttnRange& r : rows(rank)) n += r.size();
  return n;
}

void BlockCells::add(int64_t q_block, AttnRange cols, TypedCells& out) const {
  const AttnRange rows = block(q_block);
  for (int32_t id : by_block_[q_block]) {
    if (slices_[id].k.intersect(cols).empty()) continue;
    add_box_cells(slices_[id], rows, cols, out);
  }
}

TypedCells BlockCells::cells(int64_t q_rank, int64_t k_rank) const {
  TypedCells out{};
  for (int64_t qb : blocks_of(q_rank))
    for (int64_t kb : blocks_of(k_rank)) add(qb, block(kb), out);
  return out;
}

TypedCells BlockCells::row_cells(int64_t q_rank) const {
  TypedCells out{};
  for (int64_t qb : blocks_of(q_rank)) add(qb, {0, total_}, out);
  return out;
}

}  // namespace magi::sim::detail
