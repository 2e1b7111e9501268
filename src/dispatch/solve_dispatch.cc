#include <algorithm>
#include <limits>

#include "common/ceil_div.h"
#include "dispatch/chunked_mask.h"
#include "dispatch/solvers.h"
#include "magi/check.h"
#include "magi/dispatch.h"

namespace magi {
namespace {

dispatch::Buckets run_solver(const dispatch::ChunkedMask& mask, std::span<const int64_t> costs,
                             int64_t cp_size, const DispatchAlg& alg) {
  switch (alg.type) {
    case DispatchAlgType::kMinHeap:
      return dispatch::solve_min_heap(costs, cp_size);
    case DispatchAlgType::kSequential:
      return dispatch::solve_sequential(static_cast<int64_t>(costs.size()), cp_size);
    case DispatchAlgType::kSortedSequentialSelect:
      return dispatch::solve_sorted_sequential_select(costs, dispatch::chunk_sample_ids(mask),
                                                      cp_size, alg.allocation_ratio);
    case DispatchAlgType::kToppHeap:
      return dispatch::solve_topp_heap(costs, dispatch::chunk_k_ranges(mask), cp_size, alg.top_p);
    case DispatchAlgType::kExact:
      return dispatch::solve_exact(costs, cp_size);
  }
  MAGI_FAIL("dispatch alg: invalid value ", static_cast<int>(alg.type));
}

}  // namespace

DispatchMeta solve_dispatch(std::span<const AttnSlice> slices, int64_t total_seqlen,
                            int64_t chunk_size, int64_t cp_size, const DispatchAlg& alg,
                            bool uneven_shard) {
  MAGI_CHECK(cp_size >= 1, "cp_size = ", cp_size, ": must be >= 1");
  MAGI_CHECK(chunk_size >= 1, "chunk_size = ", chunk_size, ": must be >= 1");
  MAGI_CHECK(chunk_size <= std::numeric_limits<int64_t>::max() / cp_size,
             "chunk_size * cp_size = ", chunk_size, " * ", cp_size, ": overflows int64");
  const int64_t block = chunk_size * cp_size;
  if (uneven_shard) {
    DispatchConfig{alg, chunk_size, true}.validate();
    // NOTE: every rank must hold a chunk (the original rejects empty partitions), so there
    // must be at least cp_size chunks.
    MAGI_CHECK(total_seqlen > 0 && (total_seqlen + chunk_size - 1) / chunk_size >= cp_size,
               "total_seqlen = ", total_seqlen, ": uneven shards need at least cp_size = ", cp_size,
               " chunks of chunk_size = ", chunk_size,
               " (a rank would hold no token; use a smaller chunk_size)");
  } else {
    // NOTE: total 0 would leave every rank without a chunk (the original rejects empty
    // partitions), so the smallest valid sequence is one block.
    MAGI_CHECK(total_seqlen > 0 && total_seqlen % block == 0, "total_seqlen = ", total_seqlen,
               ": must be a positive multiple of chunk_size * cp_size = ", chunk_size, " * ",
               cp_size, " = ", block, " (pad it by compute_pad_size)");
  }

  const int64_t chunks = ceil_div(total_seqlen, chunk_size);
  MAGI_CHECK(chunks <= kMaxDispatchChunks, "total_seqlen = ", total_seqlen,
             " in chunks of chunk_size = ", chunk_size, ": ", chunks,
             " chunks, more than the dispatch's limit of 2^24 = ", kMaxDispatchChunks,
             "; use a larger chunk_size");

  const dispatch::ChunkedMask mask = dispatch::cut_into_chunks(slices, total_seqlen, chunk_size);
  DispatchMeta m;
  m.total_seqlen = total_seqlen;
  m.chunk_size = chunk_size;
  m.cp_size = cp_size;
  m.costs = mask.costs();
  m.partitions = run_solver(mask, m.costs, cp_size, alg);

  // The solvers promise a split (equal, or at most ceil(n / cp) each for uneven shards) and a
  // permutation; check it here once for all of them, since a broken layout would silently
  // corrupt every later step.
  const int64_t n = m.num_chunks(), most = (n + cp_size - 1) / cp_size;
  MAGI_CHECK(static_cast<int64_t>(m.partitions.size()) == cp_size, "dispatch solver ",
             to_string(alg.type), " returned ", m.partitions.size(),
             " partitions for cp_size = ", cp_size);
  m.perm.reserve(static_cast<size_t>(n));
  for (int64_t r = 0; r < cp_size; ++r) {
    std::vector<int64_t>& p = m.partitions[r];
    const int64_t got = static_cast<int64_t>(p.size());
    MAGI_CHECK(got >= 1, "dispatch solver ", to_string(alg.type), " left rank ", r,
               " without a chunk (", n, " chunks over cp_size = ", cp_size,
               "; zero-cost chunks pile onto one rank): a rank holding no token is not "
               "supported; use another chunk_size or the sequential solver");
    MAGI_CHECK(uneven_shard ? got <= most : got == n / cp_size, "dispatch solver ",
               to_string(alg.type), " gave rank ", r, " ", got, " chunks, expected ",
               uneven_shard ? "at most " : "", uneven_shard ? most : n / cp_size);
    std::sort(p.begin(), p.end());
    m.perm.insert(m.perm.end(), p.begin(), p.end());
  }
  MAGI_CHECK(static_cast<int64_t>(m.perm.size()) == n, "dispatch solver ", to_string(alg.type),
             " placed ", m.perm.size(), " chunks, expected num_chunks = ", n);
  m.unperm.assign(static_cast<size_t>(n), -1);
  for (int64_t pos = 0; pos < n; ++pos) {
    const int64_t c = m.perm[pos];
    MAGI_CHECK(c >= 0 && c < n && m.unperm[c] == -1, "dispatch solver ", to_string(alg.type),
               " placed chunk ", c, " twice or out of range (num_chunks = ", n, ")");
    m.unperm[c] = pos;
  }
  return m;
}

DispatchMeta solve_kv_dispatch(std::span<const AttnSlice> slices, int64_t total_seqlen_kv,
                               int64_t chunk_size, int64_t cp_size, const DispatchAlg& alg,
                               bool uneven_shard) {
  return solve_dispatch(transpose_mask(slices), total_seqlen_kv, chunk_size, cp_size, alg,
                        uneven_shard);
}

}  // namespace magi
