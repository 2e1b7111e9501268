#include <limits>

#include "magi/check.h"
#include "magi/dispatch.h"

namespace magi {

int64_t compute_pad_size(int64_t total_seqlen_q, int64_t cp_size, int64_t head_dim,
                         int64_t chunk_size) {
  MAGI_CHECK(total_seqlen_q >= 0, "total_seqlen_q = ", total_seqlen_q, ": must be >= 0");
  MAGI_CHECK(cp_size >= 1, "cp_size = ", cp_size, ": must be >= 1");
  MAGI_CHECK(head_dim >= 1, "head_dim = ", head_dim, ": must be >= 1");
  MAGI_CHECK(chunk_size >= 1, "chunk_size = ", chunk_size, ": must be >= 1");
  MAGI_CHECK(chunk_size <= std::numeric_limits<int64_t>::max() / cp_size,
             "chunk_size * cp_size = ", chunk_size, " * ", cp_size, ": overflows int64");
  const int64_t block = chunk_size * cp_size;
  return (block - total_seqlen_q % block) % block;
}

}  // namespace magi
