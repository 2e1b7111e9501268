// The CUDA FFA work lists (host code): every cell of the mask's union is covered by exactly
// one (item, segment), segments stay inside their item's block, and the forward covers every
// row block once.
#include "kernels/cuda/ffa/work_list.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <map>
#include <random>
#include <tuple>
#include <vector>

#include "testing/expect_error.h"
#include "testing/random_mask.h"

namespace magi::cuda {
namespace {

std::vector<uint8_t> covered(const WorkList& wl, int64_t sq, int64_t sk, bool fwd, int block) {
  std::vector<uint8_t> c(static_cast<size_t>(sq * sk), 0);
  for (const FfaWorkItem& it : wl.items) {
    for (int s = it.seg_begin; s < it.seg_end; ++s) {
      const FfaSegment& g = wl.segs[s];
      if (fwd) {
        EXPECT_GE(g.q0, it.block_start);
        EXPECT_LE(g.q1, it.block_end);
      } else {
        EXPECT_GE(g.k0, it.block_start);
        EXPECT_LE(g.k1, it.block_start + block);
      }
      for (int64_t q = g.q0; q < g.q1; ++q) {
        for (int64_t k = g.k0; k < g.k1; ++k) {
          if (k - q >= g.dlo && k - q < g.dhi) ++c[q * sk + k];
        }
      }
    }
  }
  return c;
}

TEST(FfaWorkList, CoversTheUnionExactlyOnce) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    const int64_t sq = std::uniform_int_distribution<int64_t>(1, 160)(rng);
    const int64_t sk = std::uniform_int_distribution<int64_t>(1, 160)(rng);
    const std::vector<AttnSlice> raw = testing::random_slices(rng, sq, sk, 6);
    const std::vector<AttnSlice> slices = make_disjoint(raw);
    const std::vector<uint8_t> want = testing::dense_mask(raw, sq, sk);
    for (int block : {16, 24, 32}) {  // 24: a 192-row block's shape, scaled down
      const WorkList f = build_fwd_work(slices, sq, block);
      EXPECT_EQ(covered(f, sq, sk, true, block), want) << "fwd trial " << trial;
      // Forward blocks: disjoint, contiguous, non-empty, at most `block` rows, covering
      // [0, sq); each slice row start / end at least block / 8 rows into a block cuts it.
      std::map<int32_t, int32_t> blocks;
      for (const FfaWorkItem& it : f.items) blocks[it.block_start] = it.block_end;
      ASSERT_EQ(blocks.size(), f.items.size());
      int32_t pos = 0;
      for (const auto& [b0, b1] : blocks) {
        EXPECT_EQ(b0, pos);
        EXPECT_GT(b1, b0);
        EXPECT_LE(b1 - b0, block);
        for (const AttnSlice& sl : slices) {
          for (int64_t cut : {sl.q.start, sl.q.end}) {
            if (!sl.q.empty() && !sl.k.empty()) {
              EXPECT_FALSE(cut >= b0 + std::max(1, block / 8) && cut < b1)
                  << "cut " << cut << " inside [" << b0 << ", " << b1 << ")";
            }
          }
        }
        pos = b1;
      }
      EXPECT_EQ(pos, sq);
      for (size_t i = 1; i < f.items.size(); ++i) {
        EXPECT_GE(f.items[i - 1].cost, f.items[i].cost);  // longest first
      }
      const WorkList b = build_bwd_work(slices, sk, block, 8);
      EXPECT_EQ(covered(b, sq, sk, false, block), want) << "bwd trial " << trial;
      // Backward blocks end at their segments' last key; no key is in two items' blocks.
      std::vector<int> owners(static_cast<size_t>(sk), 0);
      for (const FfaWorkItem& it : b.items) {
        EXPECT_LE(it.block_end - it.block_start, block);
        for (int si = it.seg_begin; si < it.seg_end; ++si) {
          EXPECT_LE(b.segs[si].k1, it.block_end);
        }
        for (int32_t key = it.block_start; key < it.block_end; ++key) ++owners[key];
      }
      EXPECT_LE(*std::max_element(owners.begin(), owners.end()), 1) << "bwd trial " << trial;
      EXPECT_EQ(b.covers_keys, *std::min_element(owners.begin(), owners.end()) >= 1)
          << "bwd trial " << trial;
    }
  }
}

TEST(FfaWorkList, DiagonalsOfEachType) {
  int32_t dlo, dhi;
  slice_diagonals({{10, 20}, {0, 30}, AttnMaskType::kCausal}, dlo, dhi);
  EXPECT_EQ(dhi, 30 - 20 + 1);  // last row sees the whole k range
  EXPECT_EQ(dlo, -kNoDiagBound);
  slice_diagonals({{10, 20}, {5, 30}, AttnMaskType::kInvCausal}, dlo, dhi);
  EXPECT_EQ(dlo, 5 - 10);  // first row starts at k.start
  EXPECT_EQ(dhi, kNoDiagBound);
}

// Deterministic mode: global key blocks only (no key in two items), the list in turn order (the
// latest first row block first, then the fewest row tiles, then the lowest key block), and per
// global row block the turns of the tiles that touch it are 0, 1, 2, ... in (item, walk) order.
// Blocks of 128 keys (head dims <= 128) and of 64 (the one-pass list of the split-head-dim
// kernel).
TEST(FfaWorkList, DeterministicBackwardBlocksAndTurns) {
  std::mt19937_64 rng(5);
  for (const int block_n : {128, 64}) {
    for (int iter = 0; iter < 300; ++iter) {
      const int64_t sq = 1 + rng() % 600, sk = 1 + rng() % 600;
      const auto slices = make_disjoint(testing::random_slices(rng, sq, sk, 8));
      WorkList wl = build_bwd_work(slices, sk, block_n, 64, BwdKeyBlocks::kGlobal);
      for (const FfaWorkItem& it : wl.items) {
        EXPECT_EQ(it.block_start % block_n, 0);
        EXPECT_LE(it.block_end - it.block_start, block_n);
      }
      add_row_turns(wl, 64);
      // The tiles' entries in (item, walk) order, the items in turn order ...
      size_t pos = 0;
      std::tuple<int64_t, int64_t, int32_t> last{std::numeric_limits<int64_t>::min(), 0, 0};
      for (const FfaWorkItem& it : wl.items) {
        EXPECT_EQ(it.turn_begin, static_cast<int32_t>(pos));
        int64_t tiles = 0;
        for (int g = it.seg_begin; g < it.seg_end; ++g) {
          tiles += (wl.segs[g].q1 - 1) / 64 - wl.segs[g].q0 / 64 + 1;
        }
        pos += static_cast<size_t>(tiles);
        const int64_t first = it.seg_end > it.seg_begin ? wl.segs[it.seg_begin].q0 / 64 : -1;
        const std::tuple<int64_t, int64_t, int32_t> key{-first, tiles, it.block_start};
        EXPECT_LT(last, key) << "items out of turn order";
        last = key;
      }
      EXPECT_EQ(pos, wl.row_turns.size());
      // ... and their turns in (item, walk) order.
      std::map<int64_t, int> next;  // expected next turn per row block
      for (size_t i = 0; i < wl.items.size(); ++i) {
        pos = static_cast<size_t>(wl.items[i].turn_begin);
        for (int g = wl.items[i].seg_begin; g < wl.items[i].seg_end; ++g) {
          for (int64_t r = wl.segs[g].q0 / 64 * 64; r < wl.segs[g].q1; r += 64) {
            ASSERT_LT(pos, wl.row_turns.size());
            EXPECT_EQ(wl.row_turns[pos++], next[r / 64]++);
          }
        }
      }
      // The same cells as the default list.
      EXPECT_EQ(covered(wl, sq, sk, false, block_n),
                covered(build_bwd_work(slices, sk, 128, 64), sq, sk, false, 128));
    }
  }
}

// The default backward list's anchored key blocks: no key in two items, blocks of at most
// block_n keys, a document's key start inside a block only within block_n / 8 keys of the
// block's start or inside another document's keys, the slices that meet a block share its
// item, and the cells of the global list.
TEST(FfaWorkList, AnchoredBackwardBlocks) {
  std::mt19937_64 rng(11);
  for (int iter = 0; iter < 300; ++iter) {
    const int64_t sq = 1 + rng() % 600, sk = 1 + rng() % 600;
    const auto slices = make_disjoint(testing::random_slices(rng, sq, sk, 8));
    const WorkList wl = build_bwd_work(slices, sk, 128, 64);
    std::vector<int> owners(static_cast<size_t>(sk), 0);
    for (const FfaWorkItem& it : wl.items) {
      EXPECT_LE(it.block_end - it.block_start, 128);
      for (int32_t key = it.block_start; key < it.block_end; ++key) ++owners[key];
      for (const AttnSlice& s : slices) {
        if (s.q.size() < 64 || s.k.size() < 128) continue;
        const int64_t c = s.k.start;
        if (c <= it.block_start || c >= it.block_end || c - it.block_start < 16) continue;
        bool crossed = false;
        for (const AttnSlice& o : slices) {
          crossed =
              crossed || (o.q.size() >= 64 && o.k.size() >= 128 && o.k.start < c && c < o.k.end);
        }
        EXPECT_TRUE(crossed) << "key start " << c << " inside [" << it.block_start << ", "
                             << it.block_end << ")";
      }
    }
    EXPECT_LE(*std::max_element(owners.begin(), owners.end()), 1);
    EXPECT_EQ(
        covered(wl, sq, sk, false, 128),
        covered(build_bwd_work(slices, sk, 128, 64, BwdKeyBlocks::kGlobal), sq, sk, false, 128));
  }
  // Block-causal documents (chunks of 100 rows seeing their document up to the chunk's end):
  // one item per block of a document, blocks aligned to its start.
  std::vector<AttnSlice> chunks;
  for (const auto& [d0, d1] : {std::pair<int64_t, int64_t>{0, 300}, {300, 700}}) {
    for (int64_t r = d0; r < d1; r += 100) {
      chunks.push_back(
          {{r, std::min(r + 100, d1)}, {d0, std::min(r + 100, d1)}, AttnMaskType::kFull});
    }
  }
  WorkList wl = build_bwd_work(chunks, 700, 128, 64);
  std::vector<std::pair<int32_t, int32_t>> blocks;
  for (const FfaWorkItem& it : wl.items) blocks.emplace_back(it.block_start, it.block_end);
  std::sort(blocks.begin(), blocks.end());
  const std::vector<std::pair<int32_t, int32_t>> want = {
      {0, 128}, {128, 256}, {256, 300}, {300, 428}, {428, 556}, {556, 684}, {684, 700}};
  EXPECT_EQ(blocks, want);
  // A sliding window whose keys start 1 past the first document's: no cut there (no block of
  // one key), global blocks.
  const std::vector<AttnSlice> swa = {{{0, 512}, {0, 512}, AttnMaskType::kCausal},
                                      {{512, 4096}, {1, 4096}, AttnMaskType::kBiCausal}};
  wl = build_bwd_work(swa, 4096, 128, 64);
  for (const FfaWorkItem& it : wl.items) EXPECT_EQ(it.block_start % 128, 0);
  EXPECT_EQ(wl.items.size(), 32u);
  // Windows whose keys start every 64 keys (query chunks of 64 rows seeing 256 keys), each start
  // inside the window before: no cut (regions of 64 keys would make every window walk twice its
  // blocks), global blocks.
  std::vector<AttnSlice> windows;
  for (int64_t r = 0; r < 1024; r += 64) {
    windows.push_back({{r + 256, r + 320}, {r, r + 256}, AttnMaskType::kFull});
  }
  wl = build_bwd_work(windows, 1280, 128, 64);
  for (const FfaWorkItem& it : wl.items) EXPECT_EQ(it.block_start % 128, 0);
  EXPECT_EQ(wl.items.size(), 10u);
  // A document starting 1 key past a block boundary: no cut (no block of one key).
  const std::vector<AttnSlice> docs = {{{0, 129}, {0, 129}, AttnMaskType::kFull},
                                       {{129, 500}, {129, 500}, AttnMaskType::kFull}};
  wl = build_bwd_work(docs, 500, 128, 64);
  for (const FfaWorkItem& it : wl.items) EXPECT_EQ(it.block_start % 128, 0);
  EXPECT_EQ(wl.items.size(), 4u);
}

// The deterministic lists number their query tiles in 32 bits: a mask with more is refused,
// naming the count, before anything that large is allocated (it wrapped and wrote out of
// bounds before). Causal over 4,194,368 = 64 x 65537 tokens in key blocks of 64 (the one-pass
// list): key block b walks 65537 - b tiles of 64 rows, 65537 x 65538 / 2 in all.
TEST(FfaWorkList, DeterministicTurnsRefuseMoreThan2To31Tiles) {
  const int64_t s = 4194368;
  const std::vector<AttnSlice> causal = {{{0, s}, {0, s}, AttnMaskType::kCausal}};
  WorkList wl = build_bwd_work(causal, s, 64, 64, BwdKeyBlocks::kGlobal);
  testing::expect_error([&] { add_row_turns(wl, 64); },
                        "numbers this mask's 2147581953 query tiles");
  EXPECT_TRUE(wl.row_turns.empty());
  testing::expect_error([] { build_bwd_work({}, int64_t{1} << 30, 128, 64); },
                        "total_k = 1073741824: must be < 2^30");
  testing::expect_error([] { build_fwd_work({}, int64_t{1} << 31, 128); },
                        "total_q = 2147483648: must be < 2^30");
}

}  // namespace
}  // namespace magi::cuda
