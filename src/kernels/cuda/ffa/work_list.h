// Scheduler, host half: turns a disjoint slice list into the kernels' work lists (params.h).
// Pure host code, unit-testable on the CPU.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/cuda/ffa/params.h"
#include "magi/mask.h"

namespace magi::cuda {

struct WorkList {
  std::vector<FfaWorkItem> items;  // longest first (add_row_turns: in turn order)
  std::vector<FfaSegment> segs;
  bool covers_keys = false;  // backward: the items' key blocks cover [0, total_k)
  // Deterministic backward (add_row_turns, which also reorders the items): for each item's
  // query tiles, aligned to global blocks of block_m rows, the tile's turn among all tiles of
  // its row block.
  std::vector<int32_t> row_turns;
};

/// Forward: items own disjoint, contiguous blocks of at most `block_m` query rows covering
/// [0, total_q) (items without segments included: their rows get out = 0, lse = -inf). A
/// block ends early at a slice's row start or end at least block_m / 8 rows into it, so that
/// slices' rows start blocks of their own. `slices` must be disjoint.
WorkList build_fwd_work(std::span<const AttnSlice> slices, int64_t total_q, int block_m);

/// How build_bwd_work lays its key blocks.
enum class BwdKeyBlocks {
  // The keys cut into regions at the k range starts of the slices with >= block_m rows and
  // >= block_n keys (documents, chunks) that no other such slice's keys cross, each region into
  // blocks aligned to its start; every slice adds its segments to the blocks its keys meet. No
  // block mixes two documents' keys (whose rows it would walk both), the slices that share keys
  // share the items (one K / V load and one walk per block, not one per slice), and no key is
  // in two items (dK / dV stored, not added). A start less than block_n / 8 keys past a block
  // boundary of the region before is no cut (a block of a few keys walks as many rows as a whole
  // one); a start inside another slice's keys is none either (a sliding window's starts would
  // cut its keys into short blocks, each walking the rows of every window over it).
  kAnchored,
  // Global blocks [b block_n, (b + 1) block_n).
  kGlobal,
};

/// Backward: items of at most `block_n` keys, [block_start, block_end) = the keys their
/// segments cover, laid as `blocks` says; no key is in two items' blocks.
WorkList build_bwd_work(std::span<const AttnSlice> slices, int64_t total_k, int block_n,
                        int block_m, BwdKeyBlocks blocks = BwdKeyBlocks::kAnchored);

/// The deterministic backward's accumulation order of dQ: each item's query tiles are walked
/// aligned to global blocks of block_m rows (RowTiles with aligned = true); the list is put in
/// turn order, and a tile's turn is the number of tiles of the same row block in the items
/// before it. Turn order: the item whose walk begins at the latest row block first (then the
/// shorter walk, then the lower key block). The deterministic tile plan (sm90/tile_plan.h)
/// starts the items in list order, and of two items walking contiguous rows, the one started
/// no later whose walk begins at a later row block reaches each row block they share first: a
/// causal list goes shortest first. A key block straddling two documents begins its walk at
/// its diagonal in the first and goes before the first's longer blocks; in the longest-first
/// list's reverse, its turn came after theirs and it waited for them at every row they share
/// (v29: 0.55-0.62x of the default's speed on varlen causal in the plan's replay, 0.98-1.00x
/// in this order). Fills row_turns and every item's turn_begin. The order depends on the work
/// list alone, not on how the kernel schedules it. Turns are 32-bit: a list of 2^31 or more
/// query tiles throws (naming the count) before anything is allocated.
void add_row_turns(WorkList& wl, int block_m);

/// The band of a slice in the kernels' form: dlo <= k - q < dhi (kNoDiagBound when free).
void slice_diagonals(const AttnSlice& s, int32_t& dlo, int32_t& dhi);

}  // namespace magi::cuda
