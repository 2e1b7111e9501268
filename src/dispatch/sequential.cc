#include "dispatch/solvers.h"

namespace magi::dispatch {

Buckets solve_sequential(int64_t num_chunks, int64_t num_buckets) {
  MAGI_CHECK(num_buckets >= 1, "cp_size = ", num_buckets, ": must be >= 1");
  MAGI_CHECK(num_chunks >= 0, "num_chunks = ", num_chunks, ": must be >= 0");
  const int64_t per = num_chunks / num_buckets, extra = num_chunks % num_buckets;
  Buckets buckets(static_cast<size_t>(num_buckets));
  int64_t c = 0;
  for (int64_t b = 0; b < num_buckets; ++b) {
    for (int64_t i = 0; i < per + (b < extra ? 1 : 0); ++i) buckets[b].push_back(c++);
  }
  return buckets;
}

}  // namespace magi::dispatch
