#include <gtest/gtest.h>

#include <random>
#include <string>

#include "dispatch/chunked_mask.h"
#include "dispatch/solver_testing.h"
#include "dispatch/solvers.h"
#include "magi/check.h"

namespace magi {
namespace {

using dispatch::Buckets;

TEST(SortedSequentialSelect, KeepsDocumentsTogether) {
  const std::vector<int64_t> costs = {1, 2, 3, 4, 5, 6};
  const std::vector<int64_t> ids = {0, 0, 0, 1, 1, 1};
  // Sample 1 (cost 15) first, highest chunk first, into bucket 0; sample 0 fills bucket 1.
  EXPECT_EQ(dispatch::solve_sorted_sequential_select(costs, ids, 2, 1.0),
            (Buckets{{5, 4, 3}, {2, 1, 0}}));
}

TEST(SortedSequentialSelect, RatioCapsTheRunInOneBucket) {
  const std::vector<int64_t> costs = {1, 2, 3, 4, 5, 6};
  const std::vector<int64_t> ids = {0, 0, 0, 1, 1, 1};
  // ceil(0.5 * 3) = 2: chunks 5, 4 to bucket 0 (load 11), 3 moves on to bucket 1 (load 4);
  // sample 0 starts in the least-loaded bucket 1 with 2 and 1, then bucket 1 is full and 0
  // goes to bucket 0.
  EXPECT_EQ(dispatch::solve_sorted_sequential_select(costs, ids, 2, 0.5),
            (Buckets{{5, 4, 0}, {3, 2, 1}}));
}

TEST(SortedSequentialSelect, EmptyChunksFillTheLeftoverSlots) {
  const std::vector<int64_t> costs = {0, 7, 0, 0, 3, 0};
  const std::vector<int64_t> ids = {-1, 0, -1, -1, 1, -1};
  // Sample 0 -> bucket 0, sample 1 -> bucket 1, then the empty chunks in id order to the
  // least-loaded non-full bucket: 1, 1, then 0 (bucket 1 full), 0.
  EXPECT_EQ(dispatch::solve_sorted_sequential_select(costs, ids, 2, 1.0),
            (Buckets{{1, 3, 5}, {4, 0, 2}}));
}

TEST(SortedSequentialSelect, BadArgumentsAreNamed) {
  const std::vector<int64_t> costs = {1, 2}, ids = {0, 0}, short_ids = {0};
  try {
    dispatch::solve_sorted_sequential_select(costs, ids, 2, 0.0);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("allocation_ratio = 0"), std::string::npos);
  }
  EXPECT_THROW(dispatch::solve_sorted_sequential_select(costs, short_ids, 2, 1.0), Error);
}

// Sample ids from a mask: one per packed document whatever the slices that draw it.
TEST(ChunkSampleIds, OnePerDocument) {
  const std::vector<AttnSlice> slices = {
      // document A: rows [0, 6), sliding window drawn as a causal head plus a band
      {{0, 2}, {0, 2}, AttnMaskType::kCausal},
      {{2, 6}, {0, 6}, AttnMaskType::kBiCausal},
      // document B: rows [6, 10), full
      {{6, 10}, {6, 10}, AttnMaskType::kFull},
      // rows [10, 12) attend to nothing (padding)
  };
  const auto cut = dispatch::cut_into_chunks(slices, 12, 4);
  // Chunk 1 (rows 4..7): A has 2 rows x 3 cells = 6, B has 2 rows x 4 = 8 cells -> B.
  EXPECT_EQ(dispatch::chunk_sample_ids(cut), (std::vector<int64_t>{0, 1, 1}));
  const auto cut2 = dispatch::cut_into_chunks(slices, 12, 2);
  EXPECT_EQ(dispatch::chunk_sample_ids(cut2), (std::vector<int64_t>{0, 0, 0, 1, 1, -1}));
}

TEST(ChunkSampleIds, SharedKeysJoinDocuments) {
  // Both documents read a shared prefix [0, 2): one sample.
  const std::vector<AttnSlice> slices = {
      {{0, 4}, {0, 4}, AttnMaskType::kCausal},
      {{4, 8}, {0, 2}, AttnMaskType::kFull},
      {{4, 8}, {4, 8}, AttnMaskType::kCausal},
  };
  const auto cut = dispatch::cut_into_chunks(slices, 8, 2);
  EXPECT_EQ(dispatch::chunk_sample_ids(cut), (std::vector<int64_t>{0, 0, 0, 0}));
}

TEST(ChunkSampleIds, TiesGoToTheSmallerSample) {
  // One chunk, two documents with 4 cells each.
  const std::vector<AttnSlice> slices = {{{0, 2}, {0, 2}, AttnMaskType::kFull},
                                         {{2, 4}, {2, 4}, AttnMaskType::kFull}};
  EXPECT_EQ(dispatch::chunk_sample_ids(dispatch::cut_into_chunks(slices, 4, 4)),
            (std::vector<int64_t>{0}));
}

}  // namespace
}  // namespace magi
