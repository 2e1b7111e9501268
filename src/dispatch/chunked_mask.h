// The union mask cut into row chunks: the shared input of chunk costs and of the solvers that
// look at more than costs (k-range affinity, documents).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "magi/mask.h"
#include "mask/band.h"

namespace magi::dispatch {

/// The cells of one disjoint slice that fall in one chunk's rows.
struct ChunkPiece {
  int64_t source = 0;  // index into ChunkedMask::disjoint
  mask::Band band;     // trimmed and non-empty: every row and column of it holds a cell
};

/// Chunk c covers rows [c * chunk_size, min((c + 1) * chunk_size, total_seqlen)); its pieces
/// are pieces[offsets[c], offsets[c + 1]), in ascending order of their first row.
/// Pieces share no cell, so their areas add up to the chunk's cost exactly.
struct ChunkedMask {
  int64_t total_seqlen = 0;
  int64_t chunk_size = 1;
  std::vector<AttnSlice> disjoint;  // make_disjoint(slices)
  std::vector<int64_t> offsets;     // num_chunks + 1 entries
  std::vector<ChunkPiece> pieces;

  int64_t num_chunks() const { return static_cast<int64_t>(offsets.size()) - 1; }
  std::span<const ChunkPiece> chunk(int64_t c) const {
    return std::span<const ChunkPiece>(pieces).subspan(offsets[c], offsets[c + 1] - offsets[c]);
  }
  /// Number of cells per chunk.
  std::vector<int64_t> costs() const;
};

/// Validates the arguments (naming them), makes the slices disjoint once and sweeps the chunks
/// in row order. Cost: O(S log S) for make_disjoint plus O(C + P), where P = number of
/// (chunk, disjoint slice) pairs that share a row: linear for masks whose slices each cover a
/// few chunks or whose chunks each meet a few slices, never chunks x slices.
ChunkedMask cut_into_chunks(std::span<const AttnSlice> slices, int64_t total_seqlen,
                            int64_t chunk_size);

}  // namespace magi::dispatch
