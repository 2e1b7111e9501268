#include <gtest/gtest.h>

#include <random>
#include <string>

#include "dispatch/chunked_mask.h"
#include "magi/check.h"
#include "magi/dispatch.h"
#include "testing/random_mask.h"

namespace magi {
namespace {

using testing::dense_mask;

// Cells per chunk of rows, counted on the dense union.
std::vector<int64_t> dense_chunk_costs(std::span<const AttnSlice> slices, int64_t total,
                                       int64_t total_k, int64_t cs) {
  const auto m = dense_mask(slices, total, total_k);
  std::vector<int64_t> out(static_cast<size_t>((total + cs - 1) / cs), 0);
  for (int64_t q = 0; q < total; ++q)
    for (int64_t k = 0; k < total_k; ++k) out[q / cs] += m[q * total_k + k];
  return out;
}

TEST(ChunkCosts, HandCases) {
  const AttnSlice causal[] = {{{0, 8}, {0, 8}, AttnMaskType::kCausal}};
  EXPECT_EQ(chunk_costs(causal, 8, 4), (std::vector<int64_t>{10, 26}));
  // Two identical slices: cells count once.
  const AttnSlice twice[] = {{{0, 4}, {0, 6}, AttnMaskType::kFull},
                             {{0, 4}, {0, 6}, AttnMaskType::kFull}};
  EXPECT_EQ(chunk_costs(twice, 6, 2), (std::vector<int64_t>{12, 12, 0}));
  // Unaligned total: the last chunk is short.
  const AttnSlice full[] = {{{0, 7}, {0, 3}, AttnMaskType::kFull}};
  EXPECT_EQ(chunk_costs(full, 7, 3), (std::vector<int64_t>{9, 9, 3}));
  EXPECT_EQ(chunk_costs({}, 5, 2), (std::vector<int64_t>{0, 0, 0}));
  EXPECT_TRUE(chunk_costs({}, 0, 2).empty());
}

TEST(ChunkCosts, MatchDenseCountOnRandomOverlappingMasks) {
  std::mt19937_64 rng(21);
  for (int iter = 0; iter < 4000; ++iter) {
    const int64_t total = std::uniform_int_distribution<int64_t>(1, 40)(rng);
    const int64_t total_k = std::uniform_int_distribution<int64_t>(1, 40)(rng);
    const int64_t cs = std::uniform_int_distribution<int64_t>(1, 12)(rng);
    const auto slices = testing::random_slices(rng, total, total_k, 8);
    ASSERT_EQ(chunk_costs(slices, total, cs), dense_chunk_costs(slices, total, total_k, cs))
        << "iteration " << iter << " total " << total << " chunk " << cs;
  }
}

TEST(ChunkCosts, MatchDenseCountOnRandomVarlenMasks) {
  std::mt19937_64 rng(22);
  for (int iter = 0; iter < 2000; ++iter) {
    const int64_t total = std::uniform_int_distribution<int64_t>(1, 64)(rng);
    const int64_t cs = std::uniform_int_distribution<int64_t>(1, 16)(rng);
    const auto slices = testing::random_varlen_slices(rng, total, 10);
    ASSERT_EQ(chunk_costs(slices, total, cs), dense_chunk_costs(slices, total, total, cs))
        << "iteration " << iter;
  }
}

// The pieces behind the costs: inside their chunk's rows, disjoint, and together exactly the
// union's cells of those rows. (The affinity and sample solvers read them.)
TEST(CutIntoChunks, PiecesTileEachChunkExactly) {
  std::mt19937_64 rng(23);
  for (int iter = 0; iter < 1500; ++iter) {
    const int64_t total = std::uniform_int_distribution<int64_t>(1, 30)(rng);
    const int64_t cs = std::uniform_int_distribution<int64_t>(1, 9)(rng);
    const auto slices = testing::random_slices(rng, total, total, 7);
    const auto cut = dispatch::cut_into_chunks(slices, total, cs);
    ASSERT_EQ(cut.num_chunks(), (total + cs - 1) / cs);
    std::vector<uint8_t> got(static_cast<size_t>(total * total), 0);
    for (int64_t c = 0; c < cut.num_chunks(); ++c) {
      for (const auto& p : cut.chunk(c)) {
        ASSERT_FALSE(p.band.empty());
        ASSERT_GE(p.band.q.start, c * cs);
        ASSERT_LE(p.band.q.end, (c + 1) * cs);
        for (const AttnSlice& s : mask::to_slices(p.band)) {
          const AttnSlice one[] = {s};
          const auto m = dense_mask(one, total, total);
          for (size_t i = 0; i < m.size(); ++i) got[i] += m[i];
        }
      }
    }
    ASSERT_EQ(got, dense_mask(slices, total, total)) << "iteration " << iter;
  }
}

// Many documents and many chunks: chunks x slices work would take minutes here.
TEST(ChunkCosts, LargeVarlenMaskIsFast) {
  std::vector<AttnSlice> slices;
  const int64_t total = int64_t{1} << 22, doc = 211;
  for (int64_t s = 0; s < total; s += doc) {
    const AttnRange r{s, std::min(s + doc, total)};
    slices.push_back({r, r, AttnMaskType::kCausal});
  }
  const auto costs = chunk_costs(slices, total, 16);
  ASSERT_EQ(costs.size(), static_cast<size_t>(total / 16));
  int64_t sum = 0;
  for (int64_t c : costs) sum += c;
  EXPECT_EQ(sum, union_area(slices));
}

TEST(ChunkCosts, BadArgumentsAreNamed) {
  const AttnSlice ok[] = {{{0, 4}, {0, 4}, AttnMaskType::kFull}};
  const AttnSlice beyond[] = {{{0, 4}, {0, 4}, AttnMaskType::kFull},
                              {{2, 9}, {0, 4}, AttnMaskType::kFull}};
  const auto expect_named = [](auto f, const std::string& needle) {
    try {
      f();
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_named([&] { chunk_costs(ok, 8, 0); }, "chunk_size = 0");
  expect_named([&] { chunk_costs(ok, -2, 4); }, "total_seqlen = -2");
  expect_named([&] { chunk_costs(beyond, 8, 4); }, "q_ranges[1]");
}

}  // namespace
}  // namespace magi
