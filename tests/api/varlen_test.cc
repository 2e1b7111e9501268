// varlen_slices with a sliding window and global (sink) keys, checked cell by cell against the
// definition in magi/dist_attn.h over random batches whose sequences have Sq != Sk.
#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <tuple>
#include <vector>

#include "magi/check.h"
#include "magi/dist_attn.h"
#include "testing/random_mask.h"
#include "testing/seed.h"

namespace magi {
namespace {

/// The mask of varlen_slices(cu_q, cu_k, causal, left, right, global), written from the
/// definition: per sequence, relative (i, j), d = Sk - Sq.
std::vector<uint8_t> reference_mask(const std::vector<int64_t>& cu_q,
                                    const std::vector<int64_t>& cu_k, bool causal, int64_t left,
                                    int64_t right, int64_t global) {
  const int64_t tq = cu_q.back(), tk = cu_k.back();
  if (causal) right = 0;
  std::vector<uint8_t> m(static_cast<size_t>(tq * tk), 0);
  for (size_t s = 0; s + 1 < cu_q.size(); ++s) {
    const int64_t sq = cu_q[s + 1] - cu_q[s], sk = cu_k[s + 1] - cu_k[s], d = sk - sq;
    for (int64_t i = 0; i < sq; ++i) {
      for (int64_t j = 0; j < sk; ++j) {
        const bool below_right = right < 0 || j - i <= d + right;
        const bool window = (left < 0 || j - i >= d - left) && below_right;
        const bool sink = j < global && below_right;
        m[(cu_q[s] + i) * tk + cu_k[s] + j] = window || sink;
      }
    }
  }
  return m;
}

std::vector<int64_t> random_cu(std::mt19937_64& rng, int64_t n, int64_t max_len) {
  std::uniform_int_distribution<int64_t> len(1, max_len);
  std::vector<int64_t> cu{0};
  for (int64_t i = 0; i < n; ++i) cu.push_back(cu.back() + len(rng));
  return cu;
}

TEST(VarlenGlobalWindow, UnionMatchesTheDefinitionAndSlicesAreDisjoint) {
  std::mt19937_64 rng(testing::seed(20240614));
  std::uniform_int_distribution<int64_t> n_seq(1, 4), side(-1, 9), g(1, 14);
  int64_t with_sink_cells = 0;
  for (int iter = 0; iter < 400; ++iter) {
    const int64_t n = n_seq(rng);
    const auto cu_q = random_cu(rng, n, 12), cu_k = random_cu(rng, n, 12);
    const bool causal = iter % 5 == 0;
    int64_t left = side(rng), right = side(rng);
    if (left == -1 && (causal || right == -1)) left = 2;  // a window is required with G
    const int64_t global = g(rng);
    const auto slices = varlen_slices(cu_q, cu_k, causal, left, right, global);
    EXPECT_LE(slices.size(), static_cast<size_t>(5 * n));
    const auto got = testing::dense_mask(slices, cu_q.back(), cu_k.back());
    const auto want = reference_mask(cu_q, cu_k, causal, left, right, global);
    ASSERT_EQ(got, want) << "iter " << iter << " causal " << causal << " window (" << left << ", "
                         << right << ") G " << global;
    // Disjoint: the cells counted slice by slice equal the cells of the union.
    int64_t per_slice = 0;
    for (const AttnSlice& s : slices) {
      per_slice += testing::count_cells(
          testing::dense_mask(std::span<const AttnSlice>(&s, 1), cu_q.back(), cu_k.back()));
    }
    EXPECT_EQ(per_slice, testing::count_cells(got)) << "iter " << iter;
    with_sink_cells += testing::count_cells(got) -
                       testing::count_cells(reference_mask(cu_q, cu_k, causal, left, right, 0));
  }
  EXPECT_GT(with_sink_cells, 0);  // the global keys did add cells somewhere
}

TEST(VarlenGlobalWindow, SinkKeysSeenUpToTheRightEdge) {
  // One sequence, Sq = 6, Sk = 10 (d = 4), window (1, 0), G = 3: row i sees keys
  // [i + 3, i + 4] and the global keys j < 3 with j <= i + 4, i.e. all three.
  const std::vector<int64_t> cu_q{0, 6}, cu_k{0, 10};
  const auto m = testing::dense_mask(varlen_slices(cu_q, cu_k, false, 1, 0, 3), 6, 10);
  EXPECT_EQ(m[0 * 10 + 0], 1);
  EXPECT_EQ(m[0 * 10 + 2], 1);
  EXPECT_EQ(m[0 * 10 + 3], 1);
  EXPECT_EQ(m[0 * 10 + 5], 0);
  // Sq = 10, Sk = 4 (d = -6), window (2, 1), G = 2: row i sees global key j only when
  // j <= i - 5, so rows 0..4 see nothing and row 5 sees key 0 alone.
  const std::vector<int64_t> cu_q2{0, 10}, cu_k2{0, 4};
  const auto m2 = testing::dense_mask(varlen_slices(cu_q2, cu_k2, false, 2, 1, 2), 10, 4);
  for (int64_t i = 0; i < 5; ++i) {
    for (int64_t j = 0; j < 4; ++j) EXPECT_EQ(m2[i * 4 + j], 0) << i << "," << j;
  }
  EXPECT_EQ(m2[5 * 4 + 0], 1);
  EXPECT_EQ(m2[5 * 4 + 1], 0);
}

TEST(VarlenGlobalWindow, GlobalAtLeastTheKeysIsAnUnboundedLeftSide) {
  const std::vector<int64_t> cu_q{0, 5, 17}, cu_k{0, 9, 13};
  for (int64_t right : {-1L, 0L, 3L}) {
    const auto a = testing::dense_mask(varlen_slices(cu_q, cu_k, false, 1, right, 100), 17, 13);
    const auto b = testing::dense_mask(varlen_slices(cu_q, cu_k, false, -1, right), 17, 13);
    EXPECT_EQ(a, b) << "right " << right;
  }
}

TEST(VarlenGlobalWindow, RejectsBadArguments) {
  const std::vector<int64_t> cu{0, 8};
  EXPECT_THROW(varlen_slices(cu, cu, false, 2, 0, -1), Error);
  EXPECT_THROW(varlen_slices(cu, cu, false, -1, -1, 2), Error);  // no window
  EXPECT_THROW(varlen_slices(cu, cu, true, -1, -1, 2), Error);   // plain causal: no window
  EXPECT_NO_THROW(varlen_slices(cu, cu, true, 3, -1, 2));        // causal sliding window
  EXPECT_NO_THROW(varlen_slices(cu, cu, false, -1, -1, 0));
}

TEST(VarlenSlices, EmptyCuSeqlensAndHugeWindows) {
  const std::vector<int64_t> none;
  EXPECT_THROW(varlen_slices(none, none, true), Error);
  // A window past both ends sees the whole sequence (it was an empty mask: int64 overflow).
  const std::vector<int64_t> cu{0, 10};
  constexpr int64_t kHuge = std::numeric_limits<int64_t>::max();
  const auto area = [](const std::vector<AttnSlice>& s) {
    int64_t n = 0;
    for (const AttnSlice& x : s) n += x.area();
    return n;
  };
  EXPECT_EQ(area(varlen_slices(cu, cu, false, kHuge, kHuge)), 100);
  EXPECT_EQ(area(varlen_slices(cu, cu, true, kHuge - 5, -1)), 55);
  EXPECT_EQ(area(varlen_slices(cu, cu, false, int64_t{1} << 62, kHuge, 3)), 100);
  EXPECT_THROW(full_attention_to_varlen_attention(int64_t{1} << 62, 4), Error);  // not bad_alloc
  EXPECT_THROW(full_attention_to_varlen_attention(4, kHuge), Error);             // total > int64
}

}  // namespace
}  // namespace magi
