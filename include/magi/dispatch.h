// Dispatch: pad the global sequence, cut it into chunks, and balance the chunks' attention
// cost across the CP ranks with an equal number of chunks per rank (or, with uneven shards, no
// padding and 1 to ceil(chunks / ranks) chunks per rank).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "magi/config.h"
#include "magi/mask.h"

namespace magi {

/// pad = (B - total % B) % B with B = chunk_size * cp_size. head_dim is accepted for the seed's
/// call form and only checked.
int64_t compute_pad_size(int64_t total_seqlen_q, int64_t cp_size, int64_t head_dim,
                         int64_t chunk_size);

/// Cost of chunk c = number of mask cells in rows [c * chunk_size, (c + 1) * chunk_size) (per
/// head). `slices` may overlap: cells are counted once.
std::vector<int64_t> chunk_costs(std::span<const AttnSlice> slices, int64_t total_seqlen,
                                 int64_t chunk_size);

/// Where every chunk lives. A value: every rank computes the same one from the global mask.
/// Chunk c holds the global rows chunk_rows(c); the last chunk is short when total_seqlen is
/// not a multiple of chunk_size (uneven shards only).
struct DispatchMeta {
  int64_t total_seqlen = 0;  // padded to a multiple of chunk_size * cp_size, or not (uneven)
  int64_t chunk_size = 0;
  int64_t cp_size = 0;
  std::vector<int64_t> costs;                    // per chunk
  std::vector<std::vector<int64_t>> partitions;  // per rank: its chunk ids, ascending, non-empty
  std::vector<int64_t> perm;    // position in the rank-major gathered order -> chunk id
  std::vector<int64_t> unperm;  // chunk id -> position in the gathered order

  int64_t num_chunks() const { return static_cast<int64_t>(costs.size()); }
  /// Global rows of chunk c: [c * chunk_size, min((c + 1) * chunk_size, total_seqlen)).
  AttnRange chunk_rows(int64_t c) const;
  /// Rows of `rank`'s local buffer (the same on every rank unless the shards are uneven).
  int64_t shard_seqlen(int64_t rank) const;
  /// Local rows of every rank, in rank order (the counts of an all-gather of the shards).
  std::vector<int64_t> shard_seqlens() const;
  /// The rank's rows as merged global token ranges; the local buffer stores them in order.
  AttnRanges host_ranges(int64_t rank) const;
  /// Global token id of each local row of `rank`.
  std::vector<int64_t> position_ids(int64_t rank) const;
  /// Rank that owns global token `token`.
  int64_t owner(int64_t token) const;
  /// Sum of chunk costs per rank.
  std::vector<int64_t> rank_costs() const;
  /// Throws unless this is a layout solve_dispatch could have returned: sizes >= 1, one cost
  /// per chunk, cp_size partitions, each chunk in exactly one of them, perm / unperm the
  /// rank-major order and its inverse (the planner checks a DispatchMeta built by hand).
  void validate() const;
  friend bool operator==(const DispatchMeta&, const DispatchMeta&) = default;
};

/// Chunks a dispatch may have: the planner holds a few words per chunk and rank, so more would
/// exhaust memory before any error; solve_dispatch refuses them (naming the lengths).
inline constexpr int64_t kMaxDispatchChunks = int64_t{1} << 24;

/// Solves the dispatch of a padded mask (total_seqlen % (chunk_size * cp_size) == 0), or with
/// uneven_shard of an unpadded one: ceil(total_seqlen / chunk_size) chunks, which must be at
/// least cp_size, and alg kMinHeap or kSequential. Throws on bad arguments, naming them, and
/// when the solver leaves a rank without a chunk (the original's "empty partition" error: a
/// rank holding no token is not a valid layout).
DispatchMeta solve_dispatch(std::span<const AttnSlice> slices, int64_t total_seqlen,
                            int64_t chunk_size, int64_t cp_size, const DispatchAlg& alg,
                            bool uneven_shard = false);

/// Cross-attention: the dispatch of K/V (a sequence of its own, padded to total_seqlen_kv, or
/// not with uneven_shard). Its chunks are balanced like q's, by the cells in each chunk's
/// columns: solve_dispatch over transpose_mask(slices), so every rank serves about the same
/// share of the K/V reads. Throws as solve_dispatch.
DispatchMeta solve_kv_dispatch(std::span<const AttnSlice> slices, int64_t total_seqlen_kv,
                               int64_t chunk_size, int64_t cp_size, const DispatchAlg& alg,
                               bool uneven_shard = false);

}  // namespace magi
