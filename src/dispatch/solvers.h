// Dispatch solvers: chunk ids -> buckets (ranks). Internal to src/dispatch; solve_dispatch()
// picks one from DispatchAlg. Every solver returns k buckets that together are a permutation of
// the n chunk ids. With n % k == 0 every bucket gets exactly n / k ids; MinHeap and Sequential
// also take any other n (uneven shards) and then give each bucket at most ceil(n / k), the
// others require n % k == 0. The order inside a bucket is the order of assignment
// (solve_dispatch sorts it).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "dispatch/chunked_mask.h"
#include "magi/check.h"
#include "magi/mask.h"

namespace magi::dispatch {

using Buckets = std::vector<std::vector<int64_t>>;

/// Throws unless num_buckets >= 1 and num_chunks is a non-negative multiple of it.
inline void check_equal_split(int64_t num_chunks, int64_t num_buckets) {
  MAGI_CHECK(num_buckets >= 1, "cp_size = ", num_buckets, ": must be >= 1");
  MAGI_CHECK(num_chunks >= 0 && num_chunks % num_buckets == 0, "num_chunks = ", num_chunks,
             ": must be a multiple of cp_size = ", num_buckets);
}

/// Chunk ids by cost, largest first. NOTE: the original takes a stable ascending argsort and
/// reverses it, so among equal costs the higher chunk id comes first; we keep that order
/// because it decides ties and therefore the exact layout users get.
std::vector<int64_t> descending_order(std::span<const int64_t> costs);

/// Largest job first onto the least-loaded non-full bucket (ties to the smaller bucket id); a
/// bucket is full at ceil(n / k) jobs. NOTE: as the original, zero-cost jobs keep a bucket the
/// least loaded, so with n % k != 0 a bucket may end up empty (solve_dispatch rejects that).
Buckets solve_min_heap(std::span<const int64_t> costs, int64_t num_buckets);

/// Contiguous blocks of chunk ids in bucket order; the first n % k buckets get one id more
/// (n / k + 1), the others n / k.
Buckets solve_sequential(int64_t num_chunks, int64_t num_buckets);

/// The sample (document) of each chunk: the group of the disjoint slices holding most of the
/// chunk's cells, -1 for a chunk without cells. Two slices belong to the same sample when they
/// are connected through slices whose rows overlap or whose columns overlap: one sample per
/// packed document (whatever the slices that draw it), one sample for a mask where rows share
/// keys across documents (a shared prefix, block-causal video). Samples are numbered in order
/// of their first row. Ties between samples in a chunk go to the smaller sample id.
std::vector<int64_t> chunk_sample_ids(const ChunkedMask& mask);

/// Keeps samples together: samples by total cost, largest first (ties to the smaller id); each
/// sample's chunks, highest id first, are poured into the least-loaded non-full bucket,
/// switching to the next least-loaded one when the bucket is full or, with ratio < 1, after
/// ceil(ratio * chunks of the sample) chunks. Chunks of sample -1 go last, each to the
/// least-loaded non-full bucket. allocation_ratio must be in (0, 1].
Buckets solve_sorted_sequential_select(std::span<const int64_t> costs,
                                       std::span<const int64_t> sample_ids, int64_t num_buckets,
                                       double allocation_ratio);

/// Merged k ranges of the cells in each chunk's rows (what a rank holding the chunk reads).
std::vector<AttnRanges> chunk_k_ranges(const ChunkedMask& mask);

/// MinHeap with affinity: each job (largest first) looks at the m = max(1, ceil(k * top_p))
/// least-loaded non-full buckets and takes the one whose accumulated k ranges share the most
/// tokens with the job's k ranges; ties (including "no overlap") to the least loaded, so
/// top_p = 0 is exactly MinHeap. top_p must be in [0, 1].
Buckets solve_topp_heap(std::span<const int64_t> costs, std::span<const AttnRanges> k_ranges,
                        int64_t num_buckets, double top_p);

/// Largest number of chunks the exact solver accepts. NOTE: it is exponential in the worst
/// case; at 20 chunks the slowest random instances we measured take ~30 ms, at 24 chunks some
/// (cp 6, 4 chunks per rank, costs near the average) take seconds.
inline constexpr int64_t kMaxExactChunks = 20;

/// Minimises the largest bucket cost exactly, by branch and bound over equal-count buckets.
/// Throws, naming num_chunks, above kMaxExactChunks.
Buckets solve_exact(std::span<const int64_t> costs, int64_t num_buckets);

}  // namespace magi::dispatch
