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

/// An LRU of blocks numbered 0 .. blocks - 1 (a doubly linked list over arrays: no allocation
/// per touch), counting the bytes read on misses and written back by dirty blocks leaving it.
class BlockLru {
 public:
  BlockLru(int64_t capacity, size_t blocks)
      : capacity_(capacity),
        prev_(blocks, -1),
        next_(blocks, -1),
        bytes_(blocks, 0),
        dirty_bytes_(blocks, 0),
        present_(blocks, 0) {}

  /// Touches `block` of `bytes`, of which `dirty_bytes` go back to DRAM when it leaves.
  void touch(int32_t block, int64_t bytes, int64_t dirty_bytes) {
    const auto b = static_cast<size_t>(block);
    if (present_[b]) {
      unlink(block);
    } else {
      read += bytes;
      used_ += bytes;
      bytes_[b] = bytes;
      dirty_bytes_[b] = dirty_bytes;
      present_[b] = 1;
    }
    push_front(block);
    while (used_ > capacity_ && tail_ >= 0) {
      const int32_t old = tail_;
      unlink(old);
      const auto o = static_cast<size_t>(old);
      written += dirty_bytes_[o];
      used_ -= bytes_[o];
      present_[o] = 0;
    }
  }

  int64_t read = 0, written = 0;

 private:
  void unlink(int32_t block) {
    const auto b = static_cast<size_t>(block);
    (prev_[b] >= 0 ? next_[static_cast<size_t>(prev_[b])] : head_) = next_[b];
    (next_[b] >= 0 ? prev_[static_cast<size_t>(next_[b])] : tail_) = prev_[b];
  }
  void push_front(int32_t block) {
    const auto b = static_cast<size_t>(block);
    prev_[b] = -1;
    next_[b] = head_;
    (head_ >= 0 ? prev_[static_cast<size_t>(head_)] : tail_) = block;
    head_ = block;
  }

  int64_t capacity_, used_ = 0;
  int32_t head_ = -1, tail_ = -1;  // most and least recent
  std::vector<int32_t> prev_, next_;
  std::vector<int64_t> bytes_, dirty_bytes_;
  std::vector<uint8_t> present_;
};

/// `plan` (tiles numbered item * (num_heads / walks) + tile head; cut pieces, of tiles of one
/// head, after the items) over the backward list `items` / `segs` (blocks of 128 keys, query
/// tiles of 64 rows), replayed.
inline BwdTraffic replay_bwd_traffic(const TilePlan& plan, std::span<const FfaWorkItem> items,
                                     std::span<const FfaSegment> segs, const TrafficProblem& p) {
  MAGI_CHECK(p.num_heads >= 1 && p.heads_per_kv >= 1 && p.walks >= 1 &&
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
  struct Step {
    int32_t block;  // -1: a step that touches nothing new (the tile's fixed steps after the first)
    bool row;       // a query tile's rows (else K / V or dK / dV)
  };
  const size_t grid = plan.start.empty() ? 0 : plan.start.size() - 1;
  std::vector<std::vector<Step>> steps(grid);
  BwdTraffic t;
  for (size_t c = 0; c < grid; ++c) {
    std::vector<Step>& s = steps[c];
    for (int32_t a = plan.start[c]; a < plan.start[c + 1]; ++a) {
      const int32_t tile = plan.tiles[static_cast<size_t>(a)];
      // A piece walks query tiles [first, first + count) of its tile's walk.
      int64_t item = tile / tile_heads, first = 0, count = std::numeric_limits<int64_t>::max();
      if (item >= std::ssize(items)) {
        const TilePiece& piece = plan.pieces[static_cast<size_t>(item - std::ssize(items))];
        item = piece.tile / tile_heads;
        first = piece.first;
        count = piece.count;
      }
      const FfaWorkItem& it = items[static_cast<size_t>(item)];
      const int32_t head0 = tile % tile_heads * p.walks, kv = head0 / p.heads_per_kv;
      const auto kv_block_id =
          static_cast<int32_t>(rows_end + int64_t{kv} * key_blocks + it.block_start / kKeys);
      s.push_back({kv_block_id, false});
      for (int32_t f = 1; f < p.fixed; ++f) s.push_back({-1, false});
      for (int32_t h = head0; h < head0 + p.walks; ++h) {
        int64_t q = 0;  // the walk's query tiles so far
        for (int32_t g = it.seg_begin; g < it.seg_end; ++g) {
          const FfaSegment& seg = segs[static_cast<size_t>(g)];
          for (int32_t r = seg.q0; r < seg.q1; r += kRows, ++q) {
            if (q < first || q - first >= count) continue;
            s.push_back({static_cast<int32_t>(int64_t{h} * row_blocks + r / kRows), true});
          }
        }
      }
      if (p.walks < p.heads_per_kv) {
        s.push_back({static_cast<int32_t>(kv_block_id + (kv_end - rows_end)), false});
      }
    }
    t.busiest_steps = std::max<int64_t>(t.busiest_steps, std::ssize(s));
  }
  BlockLru l2(p.l2_bytes, static_cast<size_t>(kv_end + int64_t{kv_heads} * key_blocks));
  for (int64_t i = 0; i < t.busiest_steps; ++i) {
    for (const std::vector<Step>& s : steps) {
      if (i >= std::ssize(s) || s[static_cast<size_t>(i)].block < 0) continue;
      const Step st = s[static_cast<size_t>(i)];
      if (st.row) {
        l2.touch(st.block, row_block, dq_block);
      } else if (st.block < kv_end) {
        l2.touch(st.block, kv_block, 0);
      } else {
        l2.touch(st.block, dkv_block, dkv_block);
      }
    }
  }
  t.read = l2.read;
  t.written = l2.written;
  return t;
}

}  // namespace magi::cuda::sm90
