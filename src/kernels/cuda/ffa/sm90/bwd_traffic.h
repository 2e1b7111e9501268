// What a Hopper backward tile plan costs in steps and in DRAM bytes, by a replay of its tiles
// through a model of the L2 (bench/NOTES.md v59, v62); bwd_pack.h's walks_by_traffic chooses
// the query heads a GQA tile walks by that cost. Host only; tools/bwd_l2_replay.cc runs the same
// replay over several tile orders.
//
// Model: every CTA runs its tiles back to back (tile_plan.h); a tile is `fixed` steps (the first
// loads its K / V block), then a step per query tile of each of its walks (64 rows of one head:
// Q, dO, lse, D and the fp32 dQ), then, where its kv head has several writers, a step that adds
// its dK / dV into fp32 lines. Step by step all CTAs touch their block in CTA order; the L2 is
// one LRU of `l2_bytes`. A miss reads the block from DRAM; a dirty block leaving the L2 writes
// its fp32 part back. On an H100 at 8k (v62) it gave 7-14 % more bytes than the DRAM counters
// and ranked tiles of 8, 4 and 2 heads as the kernel ran them; it is a lower bound elsewhere
// (32k full mask: half the measured bytes, v59).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "kernels/cuda/ffa/params.h"
#include "kernels/cuda/ffa/sm90/tile_plan.h"
#include "magi/check.h"

namespace magi::cuda::sm90 {

/// What the backward streams per query row of one head in a tile's walk: Q, dO, the fp32 dQ, lse
/// and D (the replay's row blocks, and the L2 tests of bwd_order.h and bwd_pack.h).
constexpr int64_t bwd_row_bytes(int64_t d, int64_t dv) { return 2 * d + 2 * dv + 4 * d + 8; }

/// A backward problem as the replay sees it.
struct TrafficProblem {
  int32_t num_heads;     // query heads
  int32_t heads_per_kv;  // query heads of a kv head
  int32_t walks;         // query heads a tile walks (divides heads_per_kv)
  int32_t head_dim;      // q's and k's (v's the same: the tiles of several heads need it)
  int64_t l2_bytes;
  int32_t fixed = 4;  // steps a tile costs besides its walks (TileCuts::tile_cost)
};

struct BwdTraffic {
  int64_t busiest_steps = 0;      // the busiest CTA's steps
  int64_t read = 0, written = 0;  // DRAM bytes
};

/// An LRU of blocks numbered 0 .. blocks - 1 (a doubly linked list over one array: no
/// allocation per touch), counting the bytes read on misses and written back by dirty blocks
/// leaving it.
class BlockLru {
 public:
  BlockLru(int64_t capacity, size_t blocks) : capacity_(capacity), nodes_(blocks) {}

  /// Touches `block` of `bytes`, of which `dirty_bytes` go back to DRAM when it leaves.
  void touch(int32_t block, int64_t bytes, int64_t dirty_bytes) {
    Node& n = nodes_[static_cast<size_t>(block)];
    if (n.prev != kAbsent) {
      if (block == head_) return;  // already the most recent
      unlink(block);
    } else {
      read += bytes;
      used_ += bytes;
      n.bytes = bytes;
      n.dirty_bytes = dirty_bytes;
    }
    push_front(block);
    while (used_ > capacity_ && tail_ >= 0) {
      const int32_t old = tail_;
      unlink(old);
      Node& o = nodes_[static_cast<size_t>(old)];
      written += o.dirty_bytes;
      used_ -= o.bytes;
      o.prev = kAbsent;
    }
  }

  int64_t read = 0, written = 0;

 private:
  static constexpr int32_t kAbsent = -2;  // a node's prev while its block is not held
  struct Node {
    int32_t prev = kAbsent, next = -1;
    int64_t bytes = 0, dirty_bytes = 0;
  };
  void unlink(int32_t block) {
    const Node& n = nodes_[static_cast<size_t>(block)];
    (n.prev >= 0 ? nodes_[static_cast<size_t>(n.prev)].next : head_) = n.next;
    (n.next >= 0 ? nodes_[static_cast<size_t>(n.next)].prev : tail_) = n.prev;
  }
  void push_front(int32_t block) {
    Node& n = nodes_[static_cast<size_t>(block)];
    n.prev = -1;
    n.next = head_;
    (head_ >= 0 ? nodes_[static_cast<size_t>(head_)].prev : tail_) = block;
    head_ = block;
  }

  int64_t capacity_, used_ = 0;
  int32_t head_ = -1, tail_ = -1;  // most and least recent
  std::vector<Node> nodes_;
};

/// `plan` (tiles numbered item * (num_heads / walks) + tile head; cut pieces, of tiles of one
/// head, after the items) over the backward list `items` / `segs` (blocks of 128 keys, query
/// tiles of 64 rows), replayed. Each CTA's steps are made as the replay reaches them (a cursor a
/// CTA): the time is the touches', the memory a few arrays over the blocks and items.
inline BwdTraffic replay_bwd_traffic(const TilePlan& plan, std::span<const FfaWorkItem> items,
                                     std::span<const FfaSegment> segs, const TrafficProblem& p) {
  MAGI_CHECK(p.num_heads >= 1 && p.heads_per_kv >= 1 && p.walks >= 1 && p.fixed >= 1 &&
                 p.heads_per_kv % p.walks == 0 && p.num_heads % p.heads_per_kv == 0 &&
                 (plan.pieces.empty() || p.walks == 1),
             "FFA CUDA: bad traffic problem (", p.num_heads, " heads, ", p.heads_per_kv,
             " a kv head, tiles of ", p.walks, ")");
  constexpr int32_t kRows = 64, kKeys = 128;
  const int64_t d = p.head_dim;
  const int64_t row_block = kRows * bwd_row_bytes(d, d), dq_block = kRows * 4 * d;
  const int64_t kv_block = kKeys * 2 * 2 * d, dkv_block = kKeys * 2 * 4 * d;
  int32_t row_blocks = 1, key_blocks = 1;
  for (const FfaSegment& s : segs) row_blocks = std::max(row_blocks, s.q1 / kRows + 1);
  for (const FfaWorkItem& it : items) key_blocks = std::max(key_blocks, it.block_start / kKeys + 1);
  const int32_t tile_heads = p.num_heads / p.walks, kv_heads = p.num_heads / p.heads_per_kv;
  const int64_t rows_end = int64_t{p.num_heads} * row_blocks;  // then K / V, then dK / dV
  const int64_t kv_end = rows_end + int64_t{kv_heads} * key_blocks;
  MAGI_CHECK(kv_end + int64_t{kv_heads} * key_blocks < (int64_t{1} << 31),
             "FFA CUDA: traffic replay of too many blocks");
  // Each item's walk for one head: its query tiles' 64-row blocks, flat.
  std::vector<int32_t> walk_begin(items.size() + 1, 0), walk_rows;
  for (size_t i = 0; i < items.size(); ++i) {
    for (int32_t g = items[i].seg_begin; g < items[i].seg_end; ++g) {
      const FfaSegment& seg = segs[static_cast<size_t>(g)];
      for (int32_t r = seg.q0; r < seg.q1; r += kRows) walk_rows.push_back(r / kRows);
    }
    walk_begin[i + 1] = static_cast<int32_t>(walk_rows.size());
  }
  const bool dkv_step = p.walks < p.heads_per_kv;  // several writers: dK / dV added in fp32
  // A tile or piece: its K / V block, first row block (of its first head) and query tiles.
  struct Tile {
    int32_t kv_block;
    int32_t first_row;  // index into walk_rows
    int32_t head0;      // its first query head
    int32_t count;      // query tiles a head
  };
  const auto tile_of = [&](int32_t tile) {
    int64_t item = tile / tile_heads, first = 0, count = std::numeric_limits<int32_t>::max();
    if (item >= std::ssize(items)) {  // a piece walks query tiles [first, first + count)
      const TilePiece& piece = plan.pieces[static_cast<size_t>(item - std::ssize(items))];
      item = piece.tile / tile_heads;
      first = piece.first;
      count = piece.count;
    }
    const auto i = static_cast<size_t>(item);
    const int32_t head0 = tile % tile_heads * p.walks;
    const auto kv = static_cast<int32_t>(rows_end + int64_t{head0 / p.heads_per_kv} * key_blocks +
                                         items[i].block_start / kKeys);
    const int64_t len = walk_begin[i + 1] - walk_begin[i];
    first = std::min(first, len);
    return Tile{kv, static_cast<int32_t>(walk_begin[i] + first), head0,
                static_cast<int32_t>(std::min<int64_t>(count, len - first))};
  };
  const auto tile_steps = [&](const Tile& t) {
    return int64_t{p.fixed} + int64_t{p.walks} * t.count + (dkv_step ? 1 : 0);
  };
  const size_t grid = plan.start.empty() ? 0 : plan.start.size() - 1;
  BwdTraffic t;
  for (size_t c = 0; c < grid; ++c) {
    int64_t steps = 0;
    for (int32_t a = plan.start[c]; a < plan.start[c + 1]; ++a) {
      steps += tile_steps(tile_of(plan.tiles[static_cast<size_t>(a)]));
    }
    t.busiest_steps = std::max(t.busiest_steps, steps);
  }
  // A CTA's place: its next tile, the current one and the step within it.
  struct Cursor {
    int32_t at, end;
    Tile tile;
    int64_t step, steps;  // step `step` of the current tile's `steps`
    int32_t head, query;  // the walk step's head (from tile.head0) and query tile
  };
  std::vector<Cursor> cursors(grid);
  for (size_t c = 0; c < grid; ++c) {
    cursors[c] = {plan.start[c], plan.start[c + 1], {}, 0, 0, 0, 0};
  }
  BlockLru l2(p.l2_bytes, static_cast<size_t>(kv_end + int64_t{kv_heads} * key_blocks));
  for (int64_t i = 0; i < t.busiest_steps; ++i) {
    for (Cursor& cur : cursors) {
      if (cur.step == cur.steps) {  // the next tile
        if (cur.at == cur.end) continue;
        cur.tile = tile_of(plan.tiles[static_cast<size_t>(cur.at++)]);
        cur.steps = tile_steps(cur.tile);
        cur.step = cur.head = cur.query = 0;
      }
      const int64_t k = cur.step++;
      if (k == 0) {
        l2.touch(cur.tile.kv_block, kv_block, 0);
      } else if (k < p.fixed) {
        // the tile's other fixed steps touch nothing new
      } else if (k < p.fixed + int64_t{p.walks} * cur.tile.count) {
        const int64_t row = int64_t{cur.tile.head0 + cur.head} * row_blocks +
                            walk_rows[static_cast<size_t>(cur.tile.first_row + cur.query)];
        l2.touch(static_cast<int32_t>(row), row_block, dq_block);
        if (++cur.query == cur.tile.count) {
          cur.query = 0;
          ++cur.head;
        }
      } else {  // dK / dV into fp32 lines
        l2.touch(static_cast<int32_t>(cur.tile.kv_block + (kv_end - rows_end)), dkv_block,
                 dkv_block);
      }
    }
  }
  t.read = l2.read;
  t.written = l2.written;
  return t;
}

}  // namespace magi::cuda::sm90
