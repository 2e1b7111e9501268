// Rows of each rank under a ring layout, and the mask's cells between two ranks' rows (the
// work of one ring step), for the baselines' simulation.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "magi/sim.h"
#include "sim/cost_model.h"

namespace magi::sim::detail {

class BlockCells {
 public:
  /// Blocks: cp (contiguous) or 2 cp (zigzag) near-equal row ranges of [0, total_seqlen).
  BlockCells(std::span<const AttnSlice> slices, int64_t total_seqlen, RingLayout layout,
             int64_t cp);
  /// The rank's row blocks, ascending.
  std::vector<AttnRange> rows(int64_t rank) const;
  int64_t num_rows(int64_t rank) const;
  /// Cells with q in q_rank's rows and k in k_rank's rows.
  TypedCells cells(int64_t q_rank, int64_t k_rank) const;
  /// Cells with q in the rank's rows, any k.
  TypedCells row_cells(int64_t q_rank) const;

 private:
  AttnRange block(int64_t b) const;
  std::vector<int64_t> blocks_of(int64_t rank) const;
  void add(int64_t q_block, AttnRange cols, TypedCells& out) const;

  std::vector<AttnSlice> slices_;  // disjoint
  int64_t total_, num_blocks_, cp_;
  RingLayout layout_;
  std::vector<std::vector<int32_t>> by_block_;  // slices whose q range meets each block
};

}  // namespace magi::sim::detail
