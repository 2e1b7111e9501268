// The CUDA FFA work lists (host code): every cell of the mask's union is covered by exactly
// one (item, segment), segments stay inside their item's block, and the forward covers every
// row block once.
#ifdef MAGI_WITH_CUDA

#include "kernels/cuda/ffa/work_list.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <vector>

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
        EXPECT_LE(g.q1, it.block_start + block);
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
    for (int block : {16, 32}) {
      const WorkList f = build_fwd_work(slices, sq, block);
      EXPECT_EQ(covered(f, sq, sk, true, block), want) << "fwd trial " << trial;
      std::set<int32_t> starts;
      for (const FfaWorkItem& it : f.items) starts.insert(it.block_start);
      EXPECT_EQ(static_cast<int64_t>(starts.size()), (sq + block - 1) / block);
      EXPECT_EQ(starts.size(), f.items.size());
      for (size_t i = 1; i < f.items.size(); ++i) {
        EXPECT_GE(f.items[i - 1].cost, f.items[i].cost);  // longest first
      }
      const WorkList b = build_bwd_work(slices, sk, block, 8);
      EXPECT_EQ(covered(b, sq, sk, false, block), want) << "bwd trial " << trial;
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

}  // namespace
}  // namespace magi::cuda

#endif  // MAGI_WITH_CUDA
